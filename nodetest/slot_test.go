package nodetest_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/crashtest"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/node"
	"github.com/tandem-db/tandem/nodetest"
	"github.com/tandem-db/tandem/stream"
)

// A replica that stays away past --max-slot-log-size loses its slot: the
// primary frees the segments it held, and the replica is refused with an
// error that tells its operator to re-seed.
func TestSlot_CapMarksLostAndFreesLog(t *testing.T) {
	const maxSlot = 32 << 10
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1", func(cfg *node.Config) {
		cfg.SegmentSize, cfg.LogRetainBytes, cfg.MaxSlotLogSize = 4096, 0, maxSlot
	})
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	c.WaitConverged(t, "n1", "n2")
	c.Stop(t, "n2")

	var slotLSN lsn.LSN
	nodetest.WaitFor(t, 5*time.Second, "n1 to see n2 gone", func() (bool, string) {
		for _, r := range c.Status(t, "n1").Replication.Replicas {
			if r.Name == "n2" {
				slotLSN = r.SlotLSN
				return r.State == "stopped" || r.State == "disconnected", r.State
			}
		}
		return false, "no row for n2"
	})
	before := c.Status(t, "n1").Log
	if before.First > slotLSN {
		t.Fatalf("n1's log starts at %s, past n2's slot at %s, while the slot holds it", before.First, slotLSN)
	}
	pad := strings.Repeat("x", 1000)
	for i := range 3 * maxSlot / 1000 {
		c.Exec(t, "n1", "INSERT INTO t VALUES(?, ?)", int64(i), pad)
	}
	nodetest.WaitFor(t, 10*time.Second, "n2's slot to be lost", func() (bool, string) {
		for _, r := range c.Status(t, "n1").Replication.Replicas {
			if r.Name == "n2" {
				return r.State == "lost", r.State + " " + r.LastError
			}
		}
		return false, "no row for n2"
	})
	nodetest.WaitFor(t, 5*time.Second, "n1 to free the segments n2's slot held", func() (bool, string) {
		l := c.Status(t, "n1").Log
		return l.First > slotLSN, "first " + l.First.String() + ", slot " + slotLSN.String()
	})
	if after := c.Status(t, "n1").Log; after.Bytes > 2*maxSlot {
		t.Errorf("n1's log holds %d bytes after the slot was lost, want at most about one segment", after.Bytes)
	}

	c.Restart(t, "n2")
	nodetest.WaitFor(t, 10*time.Second, "n2 to be refused with slot lost", func() (bool, string) {
		u := c.Status(t, "n2").Upstream
		return u.LastErrorCode == stream.CodeSlotLost && strings.Contains(u.LastError, "re-seed"), u.LastError
	})
	if u := c.Status(t, "n2").Upstream; u.Connected {
		t.Fatalf("n2 streams from n1 after its slot was lost: %+v", u)
	}

	// The operator's cure: an empty data dir makes n2 seed again.
	c.Stop(t, "n2")
	if err := os.RemoveAll(c.DataDir("n2")); err != nil {
		t.Fatal(err)
	}
	c.Restart(t, "n2")
	c.WaitConverged(t, "n1", "n2")
	if got, want := c.QueryInt(t, "n2", "SELECT count(*) FROM t"), int64(3*maxSlot/1000); got != want {
		t.Fatalf("re-seeded n2 has %d rows, want %d", got, want)
	}
}

// A replica whose log runs past its upstream's (the upstream lost its tail,
// e.g. restored from an older copy) is refused as diverged, told to
// re-seed, and nothing is streamed to it.
func TestReplica_AheadOfUpstreamIsRefused(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1")
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	c.WaitConverged(t, "n1", "n2")
	c.Stop(t, "n1")
	old := t.TempDir()
	if err := crashtest.CopyDir(c.DataDir("n1"), old); err != nil {
		t.Fatal(err)
	}
	c.Restart(t, "n1")
	for i := range 5 {
		c.Exec(t, "n1", "INSERT INTO t VALUES(?)", int64(i))
	}
	c.WaitConverged(t, "n1", "n2")
	c.Stop(t, "n2")
	c.Stop(t, "n1")
	// n1 goes back to its older copy: n2 now holds records n1 lacks.
	if err := os.RemoveAll(c.DataDir("n1")); err != nil {
		t.Fatal(err)
	}
	if err := crashtest.CopyDir(old, c.DataDir("n1")); err != nil {
		t.Fatal(err)
	}
	c.Restart(t, "n1")
	c.Restart(t, "n2")
	nodetest.WaitFor(t, 10*time.Second, "n2 to be refused as diverged", func() (bool, string) {
		u := c.Status(t, "n2").Upstream
		return u.LastErrorCode == stream.CodeDiverged && strings.Contains(u.LastError, "re-seed"), u.LastError
	})
	if got := c.QueryInt(t, "n2", "SELECT count(*) FROM t"); got != 5 {
		t.Fatalf("n2 has %d rows, want its own 5 untouched", got)
	}
}
