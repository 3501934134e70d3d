package nodetest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/node"
	"github.com/tandem-db/tandem/nodetest"
)

// haPrimary waits until some running node of names is the cluster's
// primary and accepts a write, and returns it.
func haPrimary(t *testing.T, c *nodetest.Cluster, names ...string) string {
	t.Helper()
	var got string
	nodetest.WaitFor(t, 15*time.Second, "a primary that takes writes", func() (bool, string) {
		note := ""
		for _, name := range names {
			n := c.Node(name)
			if n == nil {
				continue
			}
			st := c.Status(t, name)
			if st.Node.Role != "primary" || st.Cluster == nil || !st.Cluster.MayWrite {
				note += fmt.Sprintf("%s: %s term %d; ", name, st.Node.Role, st.Node.Term)
				continue
			}
			got = name
			return true, ""
		}
		return false, note
	})
	return got
}

func TestHA_BootstrapJoinAndFailoverOnStop(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{Config: func(cfg *node.Config) {
		cfg.SyncStandbys = "ANY 1 (n1,n2,n3)"
	}})
	c.Start(t, "n1", c.HA(t, "n1"))
	c.Start(t, "n2", c.HA(t, "n2"))
	c.Start(t, "n3", c.HA(t, "n3"))
	if p := haPrimary(t, c, "n1"); p != "n1" {
		t.Fatalf("primary %s, want the bootstrapping n1", p)
	}
	c.ExecAt(t, "n1", command.CommitRemoteFlush, "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	for i := range 20 {
		c.ExecAt(t, "n1", command.CommitRemoteFlush, "INSERT INTO t VALUES(?)", i)
	}
	c.WaitConverged(t, "n1", "n2", "n3")

	c.Stop(t, "n1")
	p := haPrimary(t, c, "n2", "n3")
	st := c.Status(t, p)
	if st.Node.Term < 2 {
		t.Fatalf("new primary %s in term %d, want a new term", p, st.Node.Term)
	}
	if got := c.QueryInt(t, p, "SELECT count(*) FROM t"); got != 20 {
		t.Fatalf("new primary %s has %d rows, want the 20 acknowledged", p, got)
	}
	for i := 20; i < 30; i++ {
		c.ExecAt(t, p, command.CommitRemoteFlush, "INSERT INTO t VALUES(?)", i)
	}
	// The old primary comes back as a replica of the new one.
	c.Restart(t, "n1", c.HA(t, "n1"))
	c.WaitConverged(t, "n1", "n2", "n3")
	if st := c.Status(t, "n1"); st.Node.Role != "replica" {
		t.Fatalf("returning n1 is %s, want replica", st.Node.Role)
	}
	if got := c.QueryInt(t, "n1", "SELECT count(*) FROM t"); got != 30 {
		t.Fatalf("n1 has %d rows after rejoining, want 30", got)
	}
}

func TestHA_SwitchoverThroughClusterState(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1", c.HA(t, "n1"))
	c.Start(t, "n2", c.HA(t, "n2"))
	haPrimary(t, c, "n1")
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	c.Exec(t, "n1", "INSERT INTO t VALUES(1)")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg, err := c.Node("n1").Switchover(ctx, "n2")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(msg)
	if p := haPrimary(t, c, "n1", "n2"); p != "n2" {
		t.Fatalf("primary after switchover: %s", p)
	}
	c.Exec(t, "n2", "INSERT INTO t VALUES(2)")
	c.WaitConverged(t, "n1", "n2")
	if st := c.Status(t, "n1"); st.Node.Role != "replica" {
		t.Fatalf("old primary is %s", st.Node.Role)
	}
}

// A primary that loses the majority cannot renew its lease: it refuses
// writes within the lease duration, and takes them again once the
// majority is back (nobody else could be promoted without a quorum).
func TestHA_PrimaryWithoutQuorumStopsWriting(t *testing.T) {
	// A primary whose wall clock runs 30 s ahead stops just as soon: its
	// lease deadline is on its monotonic clock.
	for _, offset := range []time.Duration{0, 30 * time.Second} {
		t.Run(fmt.Sprintf("offset=%v", offset), func(t *testing.T) { primaryWithoutQuorum(t, offset) })
	}
}

func primaryWithoutQuorum(t *testing.T, offset time.Duration) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1", c.HA(t, "n1"), func(cfg *node.Config) { cfg.ClockOffset = offset })
	c.Start(t, "n2", c.HA(t, "n2"))
	c.Start(t, "n3", c.HA(t, "n3"))
	haPrimary(t, c, "n1")
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	c.Stop(t, "n2")
	c.Stop(t, "n3")
	lost := time.Now()
	nodetest.WaitFor(t, 5*time.Second, "n1 to refuse writes without its lease", func() (bool, string) {
		_, err := c.Execute("n1", command.CommitLocal, "INSERT INTO t VALUES(NULL)")
		if err == nil {
			return false, "write accepted"
		}
		return strings.Contains(err.Error(), "lease"), err.Error()
	})
	if d := time.Since(lost); d > 2*time.Second {
		t.Fatalf("n1 kept writing %v after losing its quorum, want within the 800ms lease", d)
	}
	if st := c.Status(t, "n1"); st.Cluster.MayWrite {
		t.Fatalf("status says n1 may write: %+v", st.Cluster)
	}
	if _, err := c.Read("n1", &command.QueryRequest{Level: command.ReadStrong,
		Statements: []command.Statement{{SQL: "SELECT count(*) FROM t"}}}); err == nil {
		t.Fatal("strong read served by a primary without its lease")
	}
	c.Restart(t, "n2", c.HA(t, "n2"))
	p := haPrimary(t, c, "n1", "n2")
	c.Exec(t, p, "INSERT INTO t VALUES(NULL)")
}

// The failover manager times the primary's lease on its own monotonic
// clock, so a manager whose wall clock runs 30 s ahead of the primary's
// (it reads every lease as long expired) does not depose a healthy primary.
func TestHA_ClockSkewDoesNotDeposeHealthyPrimary(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	c.Start(t, "n1", c.HA(t, "n1"), func(cfg *node.Config) { cfg.ClockOffset = 30 * time.Second })
	c.Start(t, "n2", c.HA(t, "n2"), func(cfg *node.Config) { cfg.ClockOffset = -30 * time.Second })
	c.Start(t, "n3", c.HA(t, "n3"))
	haPrimary(t, c, "n1")
	c.Exec(t, "n1", "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	// n1 keeps the raft leadership (it bootstrapped) and hands the primary
	// role to n3, whose clock is 30 s behind n1's.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Node("n1").Switchover(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	haPrimary(t, c, "n3")
	term := c.Status(t, "n3").Node.Term
	// Five lease durations: a manager reading n3's lease by its wall
	// clock would have failed it over at once.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
		c.Exec(t, "n3", "INSERT INTO t VALUES(NULL)")
		st := c.Status(t, "n3")
		if st.Node.Role != "primary" || st.Node.Term != term {
			t.Fatalf("n3 was deposed under clock skew: role %s term %d (was %d); history %+v", st.Node.Role, st.Node.Term, term, st.Cluster.History)
		}
	}
	// A real failure still fails over.
	c.Stop(t, "n3")
	if p := haPrimary(t, c, "n1", "n2"); c.Status(t, p).Node.Term <= term {
		t.Fatalf("no new term after n3 stopped")
	}
}
