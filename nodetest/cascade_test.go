package nodetest_test

import (
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/nodetest"
)

// A replica of a replica gets the primary's data, and a write sent to the
// end of the chain is forwarded to the primary, which commits it.
func TestCluster_CascadeForwardsWrites(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	n1 := c.Start(t, "n1")
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	for i := range 50 {
		c.Exec(t, "n1", "INSERT INTO t VALUES(?, ?)", int64(i), "before")
	}
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Start(t, "n3", nodetest.ReplicaOf("n2"))
	c.WaitConverged(t, "n1", "n2", "n3")

	resp := c.Exec(t, "n3", "INSERT INTO t VALUES(?, ?)", int64(1000), "via n3")
	if got, want := resp.GTID.Origin, n1.UUID(); got != want {
		t.Fatalf("write sent to n3 has GTID origin %v, want n1's %v: it was not forwarded to the primary", got, want)
	}
	if resp.LSN == 0 {
		t.Fatal("forwarded write came back without a commit LSN")
	}
	// Committed on n1 before the reply: visible there at once.
	if got := c.Query(t, "n1", "SELECT v FROM t WHERE id = 1000"); len(got) != 1 || got[0][0] != "via n3" {
		t.Fatalf("n1 rows for id 1000: %v, want [[via n3]]", got)
	}
	c.WaitApplied(t, "n3", resp.LSN, 10*time.Second)
	if got := c.Query(t, "n3", "SELECT v FROM t WHERE id = 1000"); len(got) != 1 {
		t.Fatalf("n3 rows for id 1000 after applying %s: %v", resp.LSN, got)
	}
	c.WaitConverged(t, "n1", "n2", "n3")
	if got, want := c.Checksum(t, "n3"), c.Checksum(t, "n1"); got != want {
		t.Fatalf("checksum n3 %s, n1 %s", got, want)
	}
	if got := c.QueryInt(t, "n3", "SELECT count(*) FROM t"); got != 51 {
		t.Fatalf("n3 has %d rows, want 51", got)
	}

	// The middle node restarts; n3 follows it again and both catch up.
	c.Stop(t, "n2")
	for i := range 20 {
		c.Exec(t, "n1", "INSERT INTO t VALUES(?, 'while n2 was down')", int64(2000+i))
	}
	c.Restart(t, "n2")
	c.WaitConverged(t, "n1", "n2", "n3")
	if got := c.QueryInt(t, "n3", "SELECT count(*) FROM t"); got != 71 {
		t.Fatalf("n3 has %d rows after n2's restart, want 71", got)
	}
}

// A cascaded replica forwards writes to wherever the primary's HTTP API is
// now. n3 learns the primary's address from n2's Welcome; when n1 comes
// back on another address (a restart here, a failover later), n2
// reconnects and learns it, but n3's link to n2 never dropped.
//
// BUG (stream: the primary HTTP address travels only in Welcome; node/
// source.go PrimaryHTTP): n3 keeps forwarding to n1's old address until its
// own link to n2 reconnects.
func TestCluster_CascadeForwardsAfterPrimaryMoves(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Start(t, "n3", nodetest.ReplicaOf("n2"))
	c.Exec(t, "n3", "INSERT INTO t VALUES(1)")

	old := c.Node("n1").HTTPAddr()
	c.Stop(t, "n1")
	n1 := c.Restart(t, "n1")
	if n1.HTTPAddr() == old {
		t.Skip("n1 came back on the same HTTP address; nothing to test")
	}
	nodetest.WaitFor(t, 10*time.Second, "n2 to learn n1's new HTTP address", func() (bool, string) {
		u := c.Status(t, "n2").Upstream
		return u.Connected && u.PrimaryHTTP == n1.HTTPAddr(), u.PrimaryHTTP
	})
	err := nodetest.Poll(2*time.Second, func() (bool, string) {
		_, err := c.Execute("n3", command.CommitLocal, "INSERT INTO t VALUES(2)")
		return err == nil, errString(err)
	})
	if err != nil {
		t.Fatalf("write sent to n3 after n1 moved from %s to %s: %v; n3's primary_http is still %s",
			old, n1.HTTPAddr(), err, c.Status(t, "n3").Upstream.PrimaryHTTP)
	}
}
