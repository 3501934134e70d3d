package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// startCluster starts a cluster of real nodes for a test.
func startCluster(t *testing.T, nodes int) *Cluster {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Binary, cfg.Nodes, cfg.Commit = testBinary, nodes, "local"
	c, err := newCluster(&cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range c.Nodes() {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func execOn(t *testing.T, n *Node, sql string, args ...any) lsn.LSN {
	t.Helper()
	cl, err := n.Direct(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := cl.Execute(context.Background(), []client.Statement{{SQL: sql, Args: args}}, client.ExecOptions{Commit: "local"})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		t.Fatalf("%s on %s: %v", sql, n.ID, err)
	}
	at, err := lsn.Parse(resp.LSN)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func receivedLSN(t *testing.T, n *Node) lsn.LSN {
	t.Helper()
	cl, err := n.Direct(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	st, err := statusOf(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return st.Received
}

// TestProxy_PartitionStopsReplication partitions a real replication link
// from the primary to a replica: the primary keeps sending (the proxy
// drops its bytes), no byte reaches the replica and its received LSN stops;
// heal, and it catches up.
func TestProxy_PartitionStopsReplication(t *testing.T) {
	c := startCluster(t, 2)
	n1, n2 := c.Nodes()[0], c.Nodes()[1]
	at := execOn(t, n1, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	waitFor(t, 10*time.Second, "n2 to receive the schema", func() (bool, string) {
		got := receivedLSN(t, n2)
		return got >= at, fmt.Sprintf("received %s, want %s", got, at)
	})

	p := n2.Upstream
	p.Partition(Backward) // primary -> replica: records and heartbeats
	passed, dropped, received := p.Passed(Backward), p.Dropped(Backward), receivedLSN(t, n2)
	for i := range 20 {
		at = execOn(t, n1, "INSERT INTO t(id, v) VALUES(?, 'x')", i)
	}
	// The records reached the proxy and were dropped there.
	recordBytes := int64(at - received)
	waitFor(t, 10*time.Second, "the proxy to drop the records", func() (bool, string) {
		got := p.Dropped(Backward) - dropped
		return got >= recordBytes, fmt.Sprintf("dropped %d bytes, want at least %d", got, recordBytes)
	})
	if got := p.Passed(Backward); got != passed {
		t.Errorf("%d bytes crossed the partition", got-passed)
	}
	if got := receivedLSN(t, n2); got != received {
		t.Errorf("n2's received LSN moved from %s to %s during the partition", received, got)
	}

	p.Heal()
	waitFor(t, 20*time.Second, "n2 to catch up after heal", func() (bool, string) {
		got := receivedLSN(t, n2)
		return got >= at, fmt.Sprintf("received %s, want %s", got, at)
	})
	if p.Passed(Backward) <= passed {
		t.Errorf("no byte crossed the healed link")
	}
}
