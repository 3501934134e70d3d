package nodetest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/nodetest"
	"github.com/tandem-db/tandem/stream"
)

// Manual promotion: refused without force (with the risk spelled out),
// then a new term that takes writes and keeps every row; the old primary,
// restarted as a replica of the new one, follows it.
func TestPromote_ManualThenOldPrimaryFollows(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	for i := range 20 {
		c.Exec(t, "n1", "INSERT INTO t VALUES(?, ?)", int64(i), "before")
	}
	c.WaitConverged(t, "n1", "n2")
	c.Stop(t, "n1")

	ctx := context.Background()
	n2 := c.Node("n2")
	_, err := n2.Promote(ctx, false)
	if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "lose") {
		t.Fatalf("promote without force: err = %v, want a refusal naming the risk and --force", err)
	}
	if st := c.Status(t, "n2"); st.Node.Role != "replica" {
		t.Fatalf("refused promote changed the role to %s", st.Node.Role)
	}
	msg, err := n2.Promote(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	st := c.Status(t, "n2")
	if st.Node.Role != "primary" || st.Node.Term != 2 || !strings.Contains(msg, "term 2") || len(st.Node.History) != 1 {
		t.Fatalf("after promote: role %s term %d history %+v (%s)", st.Node.Role, st.Node.Term, st.Node.History, msg)
	}
	if _, err := n2.Promote(ctx, true); err == nil {
		t.Fatal("promoting a primary again succeeded")
	}
	resp := c.Exec(t, "n2", "INSERT INTO t VALUES(?, ?)", int64(100), "after")
	if resp.GTID.Origin != n2.UUID() || resp.GTID.Seq != 1 {
		t.Fatalf("first write on the new primary got GTID %v, want %v:1", resp.GTID, n2.UUID())
	}
	if got := c.QueryInt(t, "n2", "SELECT count(*) FROM t"); got != 21 {
		t.Fatalf("new primary has %d rows, want 21", got)
	}

	// The old primary, stopped cleanly, has nothing the new one lacks: it
	// can follow it and gets the new term's writes.
	c.Restart(t, "n1", nodetest.ReplicaOf("n2"))
	c.WaitConverged(t, "n2", "n1")
	if st := c.Status(t, "n1"); st.Node.Role != "replica" || st.Node.Term != 2 {
		t.Fatalf("old primary: role %s term %d, want a replica at term 2", st.Node.Role, st.Node.Term)
	}
	res, err := c.Node("n1").Query(ctx, &command.QueryRequest{Level: command.ReadNone,
		Statements: []command.Statement{{SQL: "SELECT v FROM t WHERE id = 100"}}})
	if err != nil || len(res[0].Rows) != 1 || res[0].Rows[0][0] != "after" {
		t.Fatalf("old primary does not hold the new primary's write: %v %+v", err, res)
	}
}

// After a promotion, another replica of the old primary is re-pointed at
// the new one without a restart and gets the new term's writes.
func TestPromote_OtherReplicaFollowsNewPrimary(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Start(t, "n3", nodetest.ReplicaOf("n1"))
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	for i := range 10 {
		c.Exec(t, "n1", "INSERT INTO t VALUES(?)", int64(i))
	}
	c.WaitConverged(t, "n1", "n2", "n3")
	c.Stop(t, "n1")
	ctx := context.Background()
	if _, err := c.Node("n2").Promote(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Node("n2").Follow(ctx, "127.0.0.1:1"); err == nil {
		t.Fatal("a primary agreed to follow an upstream")
	}
	msg, err := c.Node("n3").Follow(ctx, c.Node("n2").ReplAddr())
	if err != nil || !strings.Contains(msg, "following") {
		t.Fatalf("follow: %q, %v", msg, err)
	}
	resp := c.Exec(t, "n2", "INSERT INTO t VALUES(?)", int64(100))
	c.WaitApplied(t, "n3", resp.LSN, 10*time.Second)
	if got := c.QueryInt(t, "n3", "SELECT count(*) FROM t"); got != 11 {
		t.Fatalf("n3 has %d rows, want 11", got)
	}
	st := c.Status(t, "n3")
	if st.Node.Term != 2 || len(st.Node.History) != 1 || st.Node.History[0].Kind != "follow" {
		t.Fatalf("n3 status: term %d history %+v", st.Node.Term, st.Node.History)
	}
	// A write sent to n3 now goes to the new primary.
	fw, err := c.Node("n3").Execute(ctx, &command.ExecuteRequest{Statements: []command.Statement{{SQL: "INSERT INTO t VALUES(101)"}}})
	if err != nil || fw.GTID.Origin != c.Node("n2").UUID() {
		t.Fatalf("forwarded write: %v %+v", err, fw)
	}
}

// A planned switchover under write load loses nothing: every acknowledged
// write is on the new primary, the old primary follows it, the replica
// that followed the old primary keeps streaming (cascaded), and all three
// end with equal contents.
func TestSwitchover_UnderLoadLosesNothing(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Start(t, "n3", nodetest.ReplicaOf("n1"))
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY, w INTEGER)")
	c.WaitConverged(t, "n1", "n2", "n3")

	// Writers send through n3, which forwards to whoever is primary;
	// refused writes (during the switchover) are retried, bounded.
	ctx := context.Background()
	var mu sync.Mutex
	acked := map[int64]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				id := int64(w*1000 + i)
				for try := 0; try < 200; try++ {
					resp, err := c.Node("n3").Execute(ctx, &command.ExecuteRequest{Statements: []command.Statement{
						{SQL: "INSERT INTO t VALUES(?, ?)", Args: []any{id, int64(w)}}}})
					if err == nil && resp.Results[0].Error == "" {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						break
					}
					if err == nil {
						break // a statement error: the row exists from an ambiguous try
					}
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond): // back off before retrying a refused write
					}
				}
			}
		}()
	}
	nodetest.WaitFor(t, 10*time.Second, "some writes before the switchover", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 50, fmt.Sprint(len(acked))
	})
	msg, err := c.Node("n1").Switchover(ctx, c.Node("n2").HTTPAddr())
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	t.Log(msg)
	wg.Wait()
	close(stop)

	if st := c.Status(t, "n2"); st.Node.Role != "primary" || st.Node.Term != 2 {
		t.Fatalf("n2: role %s term %d", st.Node.Role, st.Node.Term)
	}
	if st := c.Status(t, "n1"); st.Node.Role != "replica" {
		t.Fatalf("n1: role %s, want replica", st.Node.Role)
	}
	c.WaitConverged(t, "n2", "n1", "n3")
	mu.Lock()
	defer mu.Unlock()
	for id := range acked {
		if got := c.QueryInt(t, "n2", "SELECT count(*) FROM t WHERE id = ?", id); got != 1 {
			t.Fatalf("acknowledged row %d missing on the new primary", id)
		}
	}
	if got := c.QueryInt(t, "n2", "SELECT count(*) FROM t"); got < int64(len(acked)) {
		t.Fatalf("new primary has %d rows, fewer than the %d acknowledged", got, len(acked))
	}
	// A switchover from a replica, or to a non-replica, is refused.
	if _, err := c.Node("n1").Switchover(ctx, c.Node("n2").HTTPAddr()); err == nil {
		t.Fatal("a replica ran a switchover")
	}
}

// A node whose log forked from the new primary's history (the old primary
// kept writing after a replica was promoted) is refused as diverged when
// it tries to follow, naming the LSN to rewind to; nothing is streamed
// onto its forked tail.
func TestPromote_ForkedOldPrimaryIsRefused(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	c.Exec(t, "n1", "INSERT INTO t VALUES(1)")
	c.WaitConverged(t, "n1", "n2")
	ctx := context.Background()
	c.Cut(t, "n1", "n2")
	if _, err := c.Node("n2").Promote(ctx, true); err != nil {
		t.Fatal(err)
	}
	fork := c.Status(t, "n2").Log.End
	// Split brain, as an operator who promoted without fencing gets it:
	// both write.
	c.Exec(t, "n1", "INSERT INTO t VALUES(2)")
	c.Exec(t, "n1", "INSERT INTO t VALUES(3)")
	c.Exec(t, "n2", "INSERT INTO t VALUES(20)")
	c.Stop(t, "n1")
	c.Restart(t, "n1", nodetest.ReplicaOf("n2"))
	nodetest.WaitFor(t, 10*time.Second, "n1 refused as diverged", func() (bool, string) {
		u := c.Status(t, "n1").Upstream
		return u.LastErrorCode == stream.CodeDiverged && strings.Contains(u.LastError, "forked") &&
			strings.Contains(u.LastError, fork.String()), u.LastError
	})
	if got := c.QueryInt(t, "n1", "SELECT count(*) FROM t WHERE id = 20"); got != 0 {
		t.Fatal("the new primary's record reached the forked node")
	}

	// Rewind to the fork point: n1's two divergent transactions are undone
	// and listed for the operator, and n1 follows n2.
	msg, err := c.Node("n1").Rewind(ctx, fork)
	if err != nil {
		t.Fatal(err)
	}
	c.WaitConverged(t, "n2", "n1")
	if got := c.QueryInt(t, "n1", "SELECT count(*) FROM t WHERE id IN (2, 3)"); got != 0 {
		t.Fatalf("n1 still holds %d of its divergent rows", got)
	}
	if got := c.QueryInt(t, "n1", "SELECT count(*) FROM t WHERE id = 20"); got != 1 {
		t.Fatal("n1 did not get the new primary's row after the rewind")
	}
	files, _ := filepath.Glob(filepath.Join(c.DataDir("n1"), "lost-transactions", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("lost-transactions files: %v (%s)", files, msg)
	}
	b, _ := os.ReadFile(files[0])
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"after":[2]`) || !strings.Contains(lines[1], `"after":[3]`) {
		t.Fatalf("lost transactions:\n%s", b)
	}
}
