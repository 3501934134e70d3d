package ha

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// testNode is one node of an in-process test cluster: its config (to reopen
// it with the same data dir and address) and its Cluster, nil while closed.
type testNode struct {
	cfg Config
	c   *Cluster
}

func testLogger() *slog.Logger {
	if os.Getenv("HA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func openNode(t *testing.T, n *testNode) {
	t.Helper()
	c, err := Open(n.cfg)
	if err != nil {
		t.Fatalf("open %s: %v", n.cfg.NodeID, err)
	}
	n.c = c
	n.cfg.RaftAddr = c.Addr() // a reopen binds the same port
}

func (n *testNode) close(t *testing.T) {
	t.Helper()
	if n.c == nil {
		return
	}
	if err := n.c.Close(); err != nil {
		t.Errorf("close %s: %v", n.cfg.NodeID, err)
	}
	n.c = nil
}

// startCluster starts len(voters) nodes on loopback: n0 bootstraps, the
// others join through the leader as voters or not.
func startCluster(t *testing.T, voters ...bool) []*testNode {
	t.Helper()
	root := t.TempDir()
	nodes := make([]*testNode, len(voters))
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				n.close(t)
			}
		}
	})
	for i, v := range voters {
		cfg := DefaultConfig()
		cfg.NodeID = fmt.Sprintf("n%d", i)
		cfg.RaftAddr = "127.0.0.1:0"
		cfg.DataDir = filepath.Join(root, cfg.NodeID)
		cfg.Bootstrap = i == 0
		cfg.Voter = v
		cfg.Logger = testLogger()
		nodes[i] = &testNode{cfg: cfg}
		openNode(t, nodes[i])
		if i == 0 {
			waitFor(t, 5*time.Second, "n0 to lead after bootstrap", nodes[0].c.IsLeader)
			continue
		}
		if err := leader(t, nodes).Join(cfg.NodeID, nodes[i].c.Addr(), v); err != nil {
			t.Fatalf("join %s: %v", cfg.NodeID, err)
		}
	}
	return nodes
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits for one open node to be leader and returns it.
func leader(t *testing.T, nodes []*testNode) *Cluster {
	t.Helper()
	var l *Cluster
	waitFor(t, 5*time.Second, "a leader", func() bool {
		for _, n := range nodes {
			if n.c != nil && n.c.IsLeader() {
				l = n.c
				return true
			}
		}
		return false
	})
	return l
}

// waitConverged waits until every open node's state equals the leader's.
func waitConverged(t *testing.T, nodes []*testNode) State {
	t.Helper()
	l := leader(t, nodes)
	var want State
	waitFor(t, 5*time.Second, "all states equal to the leader's", func() bool {
		want = l.State()
		for _, n := range nodes {
			if n.c != nil && !reflect.DeepEqual(n.c.State(), want) {
				return false
			}
		}
		return true
	})
	return want
}

func apply(t *testing.T, c *Cluster, cmds ...Command) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, cmd := range cmds {
		if err := c.Apply(ctx, cmd); err != nil {
			t.Fatalf("apply %T: %v", cmd, err)
		}
	}
}

// bootstrapState records the members and makes n0 the primary of term 1.
func bootstrapState(t *testing.T, nodes []*testNode) {
	t.Helper()
	l := leader(t, nodes)
	now := time.Now()
	for i, n := range nodes {
		apply(t, l, AddMember{Member: Member{ID: n.cfg.NodeID, RaftAddr: n.c.Addr(), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 4001+i), Voter: n.cfg.Voter}, Now: now})
	}
	apply(t, l,
		Promote{NewPrimary: "n0", NewTerm: 1, Kind: KindPromote, Reason: "bootstrap", Now: now},
		RenewLease{Holder: "n0", Term: 1, Now: now, Until: now.Add(time.Second), FlushedLSN: 100},
		SetCommitConfig{SyncStandbys: "ANY 1 (n1,n2)", Mode: "strict"},
	)
}
