package nodetest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/node"
	"github.com/tandem-db/tandem/nodetest"
)

// A promotion that cannot apply what the replica received leaves a replica
// with streaming stopped; its status and its bounded reads still answer.
func TestPromote_FailedDrainKeepsStatusAndReads(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	resp := c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"), func(cfg *node.Config) { cfg.ApplyDelay = time.Hour })
	c.WaitApplied(t, "n2", resp.LSN, 10*time.Second)
	resp = c.Exec(t, "n1", "INSERT INTO t VALUES(1)")
	nodetest.WaitFor(t, 10*time.Second, "n2 to flush the write", func() (bool, string) {
		st := c.Status(t, "n2")
		return st.Log.Durable >= resp.LSN, st.Log.Durable.String()
	})

	n2 := c.Node("n2")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := n2.Promote(ctx, true); err == nil || !strings.Contains(err.Error(), "still a replica") {
		t.Fatalf("promote of a replica that cannot apply: %v, want a failure that leaves a replica", err)
	}
	st := c.Status(t, "n2")
	if st.Node.Role != "replica" || st.Upstream == nil {
		t.Fatalf("after a failed promote: role %s upstream %+v", st.Node.Role, st.Upstream)
	}
	if _, err := c.Read("n2", &command.QueryRequest{Level: command.ReadBounded, MaxLag: time.Hour,
		Statements: []command.Statement{{SQL: "SELECT count(*) FROM t"}}}); err != nil {
		t.Fatalf("bounded read after a failed promote: %v", err)
	}
	if _, err := n2.Promote(ctx, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("promote again without force: %v, want the refusal", err)
	}
}

// Reads on the old primary while a switchover turns it into a replica:
// none sees the replica role without its applier (go test -race).
func TestSwitchover_ReadsDuringDemote(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	resp := c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	c.WaitConverged(t, "n1", "n2")

	n1 := c.Node("n1")
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := n1.Query(context.Background(), &command.QueryRequest{Level: command.ReadNone, MinLSN: resp.LSN,
				Statements: []command.Statement{{SQL: "SELECT count(*) FROM t"}}}); err != nil {
				done <- err
				return
			}
		}
	}()
	_, err := n1.Switchover(context.Background(), c.Node("n2").HTTPAddr())
	close(stop)
	if rerr := <-done; rerr != nil {
		t.Errorf("read during the switchover: %v", rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(t, "n1"); st.Node.Role != "replica" {
		t.Fatalf("n1: role %s, want replica", st.Node.Role)
	}
}

// A node that was primary, then a replica whose log no longer holds its
// own transactions, goes on with its GTID sequence when promoted again:
// no GTID is handed out twice.
func TestPromote_AfterSwitchoverNeverReusesGTIDs(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1", func(cfg *node.Config) {
		cfg.SegmentSize, cfg.LogRetainBytes, cfg.MaxSlotLogSize = 8<<10, 0, 64<<10
	})
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	var last *command.ExecuteResponse
	for i := range 5 {
		last = c.Exec(t, "n1", "INSERT INTO t VALUES(?, 'x')", int64(i))
	}
	c.WaitConverged(t, "n1", "n2")
	ctx := context.Background()
	if _, err := c.Node("n1").Switchover(ctx, c.Node("n2").HTTPAddr()); err != nil {
		t.Fatal(err)
	}
	// The new primary writes until n1 (now its replica) has trimmed every
	// record it assigned itself.
	pad := strings.Repeat("p", 1024)
	id := int64(100)
	nodetest.WaitFor(t, 30*time.Second, "n1 to trim its own records", func() (bool, string) {
		for range 20 {
			c.Exec(t, "n2", "INSERT INTO t VALUES(?, ?)", id, pad)
			id++
		}
		st := c.Status(t, "n1")
		return st.Log.First > last.LSN, st.Log.First.String()
	})
	c.Stop(t, "n2")
	if _, err := c.Node("n1").Promote(ctx, true); err != nil {
		t.Fatal(err)
	}
	resp := c.Exec(t, "n1", "INSERT INTO t VALUES(-1, 'after')")
	if resp.GTID.Origin != last.GTID.Origin || resp.GTID.Seq <= last.GTID.Seq {
		t.Fatalf("n1's first write after its promotion got GTID %v; it had already assigned up to %v", resp.GTID, last.GTID)
	}
}
