package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
	"github.com/tandem-db/tandem/lsn"
)

// startHA starts an HA cluster of real nodes and a table t(id). At
// commit remote_write or stronger the nodes have sync standbys
// "ANY 1 (n1,...)"; below, every replica is asynchronous.
func startHA(t *testing.T, nodes int, commit string) *Cluster {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Binary, cfg.Nodes, cfg.HA, cfg.Commit = testBinary, nodes, true, commit
	cfg.Out = t.TempDir()
	c, err := newCluster(&cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
		if t.Failed() {
			t.Logf("node logs in %s", cfg.Out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n1 := c.Nodes()[0]
	if err := n1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitWritable(ctx, n1); err != nil {
		t.Fatal(err)
	}
	execOn(t, n1, "CREATE TABLE t(id INTEGER PRIMARY KEY)")
	for _, n := range c.Nodes()[1:] {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := quiesce(ctx, c, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// writer inserts rows at remote_flush through the nodes' client proxies,
// one node after the other, and keeps what each insert's client learned.
type writer struct {
	mu    sync.Mutex
	acked map[int64]string // id -> node that acknowledged it
	tried int64
}

// run writes until ctx ends.
func (w *writer) run(ctx context.Context, c *Cluster) {
	var cls []*client.Client
	for _, n := range c.Nodes() {
		cl, err := client.New(n.Client.Addr(), client.WithTimeout(3*time.Second), client.WithMaxConns(1))
		if err != nil {
			return
		}
		defer cl.Close()
		cls = append(cls, cl)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for id := int64(1); ctx.Err() == nil; id++ {
		i := int(id) % len(cls)
		resp, err := cls[i].Execute(ctx, client.SQL(fmt.Sprintf("INSERT INTO t(id) VALUES(%d)", id)), client.ExecOptions{Commit: "remote_flush"})
		if err == nil {
			err = resp.Err()
		}
		w.mu.Lock()
		w.tried++
		if err == nil {
			w.acked[id] = c.Nodes()[i].ID
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

func (w *writer) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// writerWatch samples every node's /status at once every 20 ms, and keeps
// the rounds in which more than one node said it may write.
type writerWatch struct {
	mu     sync.Mutex
	rounds int
	two    []string
}

func (ww *writerWatch) run(ctx context.Context, c *Cluster) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		var who []string
		for _, v := range c.views(ctx) {
			if v.err == nil && v.st.MayWrite {
				who = append(who, fmt.Sprintf("%s (term %d)", v.node.ID, v.st.Term))
			}
		}
		ww.mu.Lock()
		ww.rounds++
		if len(who) > 1 {
			ww.two = append(ww.two, strings.Join(who, ", "))
		}
		ww.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

func statusNow(t *testing.T, n *Node) nodeStatus {
	t.Helper()
	cl, err := n.Direct(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	st, err := statusOf(context.Background(), cl)
	if err != nil {
		t.Fatalf("status of %s: %v", n.ID, err)
	}
	return st
}

// TestHA_PartitionedPrimary is issue 4's partition test: the primary of a
// 3-member HA cluster, cut from both other members (its raft, replication
// and peer HTTP links) but alive and reachable by clients, stops taking
// writes within its lease; the majority elects a new primary in a new term
// that takes writes; never do two nodes say they may write at once; after
// the heal the old primary follows the new one (rewinding if its log
// diverged), every node converges, and no acknowledged write is lost.
func TestHA_PartitionedPrimary(t *testing.T) {
	c := startHA(t, 3, "remote_flush")
	old := c.Nodes()[0]
	before := statusNow(t, old)
	if !before.MayWrite || before.ClusterPrimary != old.ID {
		t.Fatalf("n1 after bootstrap: may_write=%v, cluster primary %q", before.MayWrite, before.ClusterPrimary)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	w := &writer{acked: map[int64]string{}}
	ww := &writerWatch{}
	wg.Add(2)
	go func() { defer wg.Done(); w.run(ctx, c) }()
	go func() { defer wg.Done(); ww.run(ctx, c) }()
	defer func() { stop(); wg.Wait() }()
	waitFor(t, 10*time.Second, "writes before the partition", func() (bool, string) {
		return w.ackedCount() >= 20, fmt.Sprintf("%d acknowledged", w.ackedCount())
	})

	cut := time.Now()
	touched := c.isolate(old, Both, false)
	waitFor(t, time.Second, "the partitioned primary to stop taking writes (lease 800 ms)", func() (bool, string) {
		st := statusNow(t, old)
		return !st.MayWrite, fmt.Sprintf("may_write=%v term %d", st.MayWrite, st.Term)
	})
	t.Logf("the partitioned primary stopped writing %v after the cut", time.Since(cut).Round(time.Millisecond))

	// It is alive and its clients reach it: it refuses, saying it ran nothing.
	cl, err := client.New(old.Client.Addr(), client.WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.Execute(context.Background(), client.SQL("INSERT INTO t(id) VALUES(-1)"), client.ExecOptions{Commit: "remote_flush"})
	if !notRun(err) {
		t.Errorf("a write sent to the partitioned primary: %v; want a refusal that says it was not run", err)
	}

	var next *Node
	var term uint64
	waitFor(t, 10*time.Second, "the majority to promote a new primary", func() (bool, string) {
		var notes []string
		for _, n := range c.Nodes()[1:] {
			st := statusNow(t, n)
			if st.MayWrite && st.Term > before.Term {
				next, term = n, st.Term
				return true, ""
			}
			notes = append(notes, fmt.Sprintf("%s %s term %d may_write=%v", n.ID, st.Role, st.Term, st.MayWrite))
		}
		return false, strings.Join(notes, "; ")
	})
	t.Logf("%s is the primary in term %d, %v after the cut", next.ID, term, time.Since(cut).Round(time.Millisecond))
	execVia(t, next, "INSERT INTO t(id) VALUES(-2)")
	acked := w.ackedCount()
	waitFor(t, 10*time.Second, "writes through the new primary", func() (bool, string) {
		return w.ackedCount() >= acked+20, fmt.Sprintf("%d acknowledged since", w.ackedCount()-acked)
	})
	if st := statusNow(t, old); st.MayWrite {
		t.Fatalf("the old primary may write again while partitioned: term %d", st.Term)
	}

	for _, p := range touched {
		p.Heal()
	}
	hctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := quiesce(hctx, c, 30*time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	stop()
	wg.Wait()
	if err := quiesce(hctx, c, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	st := statusNow(t, old)
	if st.Role != "replica" || st.ClusterPrimary != next.ID {
		t.Errorf("the old primary after the heal: %s, following %q; want a replica of %s", st.Role, st.ClusterPrimary, next.ID)
	}

	// Every node holds the same rows, among them every acknowledged write.
	// A write whose client gave up may still commit after the last
	// quiesce: compare until the contents settle.
	if contents := settledContents(hctx, c, []string{"t"}, 30*time.Second); !sameContents(contents) {
		for _, nc := range contents {
			t.Errorf("%s: applied %s, %d rows, checksum %.12s, err %q", nc.Node, nc.Applied, nc.Rows, nc.Checksum, nc.Err)
		}
	}
	pcl, err := next.Direct(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	present, err := presentIDs(hctx, pcl, "SELECT id FROM t")
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, via := range w.acked {
		if !present[id] {
			t.Errorf("acknowledged write %d (through %s) is lost", id, via)
		}
	}
	// What a rewind discarded was never acknowledged.
	files := readLostFiles(c)
	for _, f := range files {
		t.Logf("%s rewound: %s lists %d transactions", f.Node, f.Name, len(f.Txns))
	}
	_, byID := listedOps(files)
	for id := range w.acked {
		if where := byID[id]; where != "" {
			t.Errorf("acknowledged write %d was discarded by a rewind (%s)", id, where)
		}
	}
	ww.mu.Lock()
	defer ww.mu.Unlock()
	if len(ww.two) > 0 {
		t.Errorf("in %d of %d rounds two nodes said they may write: %v", len(ww.two), ww.rounds, ww.two)
	}
	t.Logf("%d writes tried, %d acknowledged; %d rounds of /status", w.tried, len(w.acked), ww.rounds)
}

// execVia runs a write at remote_flush through the node's client proxy.
func execVia(t *testing.T, n *Node, sql string) lsn.LSN {
	t.Helper()
	cl, err := client.New(n.Client.Addr(), client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := cl.Execute(context.Background(), client.SQL(sql), client.ExecOptions{Commit: "remote_flush"})
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		t.Fatalf("%s through %s: %v", sql, n.ID, err)
	}
	at, err := lsn.Parse(resp.LSN)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestHA_PartitionPairOnly cuts the primary n1 from n2 only: no byte
// crosses between them on any of their links, while n1 and n3 go on
// (writes at remote_flush keep being acknowledged by n3, no failover), and
// the clients still reach n2. After the heal n2 catches up.
func TestHA_PartitionPairOnly(t *testing.T) {
	c := startHA(t, 3, "remote_flush")
	n1, n2, n3 := c.Nodes()[0], c.Nodes()[1], c.Nodes()[2]
	term := statusNow(t, n1).Term
	at := execVia(t, n1, "INSERT INTO t(id) VALUES(1)")
	waitFor(t, 10*time.Second, "n2 and n3 to receive the first row", func() (bool, string) {
		a, b := receivedLSN(t, n2), receivedLSN(t, n3)
		return a >= at && b >= at, fmt.Sprintf("n2 %s, n3 %s, want %s", a, b, at)
	})

	touched := cutPair(n1, n2, Both)
	// In-flight bytes may still land: wait until the cut drops some, then
	// nothing more may pass between the pair.
	waitFor(t, 5*time.Second, "the cut to drop n1's heartbeats to n2", func() (bool, string) {
		got := n1.Repl.DroppedFrom(n2.Source, Backward) + n2.Raft.DroppedFrom(n1.Source, Forward)
		return got > 0, fmt.Sprintf("%d bytes dropped", got)
	})
	type pairCount struct {
		name string
		get  func() int64
	}
	pair := []pairCount{
		{"n1/repl to n2", func() int64 { return n1.Repl.PassedFrom(n2.Source, Backward) }},
		{"n1/raft to n2", func() int64 { return n1.Raft.PassedFrom(n2.Source, Backward) }},
		{"n1/http to n2", func() int64 { return n1.Peer.PassedFrom(n2.Source, Backward) }},
		{"n2/raft to n1", func() int64 { return n2.Raft.PassedFrom(n1.Source, Backward) }},
		{"n2/http to n1", func() int64 { return n2.Peer.PassedFrom(n1.Source, Backward) }},
		{"n2/repl to n1", func() int64 { return n2.Repl.PassedFrom(n1.Source, Backward) }},
		{"n2 to n1/raft", func() int64 { return n1.Raft.PassedFrom(n2.Source, Forward) }},
		{"n1 to n2/raft", func() int64 { return n2.Raft.PassedFrom(n1.Source, Forward) }},
	}
	frozen := make([]int64, len(pair))
	for i, p := range pair {
		frozen[i] = p.get()
	}
	rec2, rec3 := receivedLSN(t, n2), receivedLSN(t, n3)
	raft3 := n3.Raft.PassedFrom(n1.Source, Forward)
	for i := 2; i < 30; i++ {
		at = execVia(t, n1, fmt.Sprintf("INSERT INTO t(id) VALUES(%d)", i))
	}
	waitFor(t, 5*time.Second, "n3 to receive the writes", func() (bool, string) {
		got := receivedLSN(t, n3)
		return got >= at, fmt.Sprintf("n3 received %s, want %s", got, at)
	})
	if got := receivedLSN(t, n2); got != rec2 {
		t.Errorf("n2's received LSN moved from %s to %s while cut from the primary", rec2, got)
	}
	if receivedLSN(t, n3) <= rec3 || n3.Raft.PassedFrom(n1.Source, Forward) <= raft3 {
		t.Errorf("n1 -> n3 carried nothing during the n1|n2 cut")
	}
	for i, p := range pair {
		if got := p.get(); got != frozen[i] {
			t.Errorf("%s: %d bytes passed during the cut", p.name, got-frozen[i])
		}
	}
	// The clients still reach n2, on their own path.
	cl, err := client.New(n2.Client.Addr(), client.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := cl.Query(context.Background(), client.SQL("SELECT count(*) FROM t"), client.QueryOptions{Level: "none"}); err != nil || resp.Err() != nil {
		t.Errorf("a local read on n2 through its client proxy during the cut: %v", err)
	}
	if st := statusNow(t, n1); !st.MayWrite || st.Term != term {
		t.Errorf("n1 during the cut: may_write=%v term %d; want it still the primary of term %d", st.MayWrite, st.Term, term)
	}

	for _, p := range touched {
		p.Heal()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := quiesce(ctx, c, 30*time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	if got := receivedLSN(t, n2); got < at {
		t.Errorf("n2 received %s after the heal, want %s", got, at)
	}
}

// TestHA_PromotionKeepsReceivedTail kills the primary of an HA cluster
// while writes stream to asynchronous replicas (no sync standbys), a few
// times over: an asynchronous replica fsyncs what it received a few
// milliseconds late (stream.asyncSyncDelay), so
// the connection breaks with records written to its log but not yet
// durable. The promoted replica must start its term after every record it
// holds and has applied: then every node converges to the same rows, and
// no write acknowledged at commit=local is missing unless a rewind listed
// it.
func TestHA_PromotionKeepsReceivedTail(t *testing.T) {
	c := startHA(t, 3, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var mu sync.Mutex
	type ack struct{ where, gtid string }
	acked := map[int64]ack{}
	var next atomic.Int64
	pad := strings.Repeat("x", 2000)
	var round atomic.Int64
	load := func(ctx context.Context, n *Node) {
		cl, err := n.Direct(2 * time.Second)
		if err != nil {
			return
		}
		defer cl.Close()
		for ctx.Err() == nil {
			id := next.Add(1)
			resp, err := cl.Execute(ctx, []client.Statement{{SQL: "INSERT INTO t(id) VALUES(?)", Args: []any{id}},
				{SQL: "INSERT INTO pad(id, v) VALUES(?, ?)", Args: []any{id, pad}}}, client.ExecOptions{Transaction: true, Commit: "local"})
			if err == nil && resp.Err() == nil {
				mu.Lock()
				acked[id] = ack{fmt.Sprintf("%s at LSN %s, GTID %s, round %d", n.ID, resp.LSN, resp.GTID, round.Load()), resp.GTID}
				mu.Unlock()
			} else if err != nil {
				return // the node went away
			}
		}
	}
	execOn(t, c.Nodes()[0], "CREATE TABLE pad(id INTEGER PRIMARY KEY, v TEXT)")
	if err := quiesce(ctx, c, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for ; round.Load() < 3; round.Add(1) {
		p, err := c.currentPrimary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := waitWritable(ctx, p); err != nil {
			t.Fatal(err)
		}
		lctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); load(lctx, p) }()
		}
		mu.Lock()
		base := len(acked)
		mu.Unlock()
		waitFor(t, 10*time.Second, "writes streaming", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= base+300, fmt.Sprintf("%d acknowledged", len(acked)-base)
		})
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		stop()
		wg.Wait()
		waitFor(t, 10*time.Second, "a new primary", func() (bool, string) {
			q, err := c.currentPrimary(ctx)
			if err != nil {
				return false, err.Error()
			}
			if q == p {
				return false, "still " + p.ID
			}
			return statusNow(t, q).MayWrite, q.ID
		})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := quiesce(ctx, c, 30*time.Second); err != nil {
			t.Fatalf("round %d: %v", round.Load(), err)
		}
		if contents := settledContents(ctx, c, []string{"t", "pad"}, 30*time.Second); !sameContents(contents) {
			for _, nc := range contents {
				t.Errorf("round %d: %s applied %s, %d rows (checksum %.12s, err %q)", round.Load(), nc.Node, nc.Applied, nc.Rows, nc.Checksum, nc.Err)
			}
			t.FailNow()
		}
	}
	p, err := c.currentPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pcl, err := p.Direct(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	present, err := presentIDs(ctx, pcl, "SELECT id FROM t")
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := listedOps(readLostFiles(c))
	mu.Lock()
	defer mu.Unlock()
	for id, a := range acked {
		if !present[id] && listed[a.gtid] == "" {
			t.Errorf("write %d, acknowledged at commit=local (%s), is neither in the database nor in a lost-transactions file", id, a.where)
		}
	}
	t.Logf("%d writes acknowledged", len(acked))
}
