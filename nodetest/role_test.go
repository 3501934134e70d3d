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
