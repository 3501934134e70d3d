package node

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/commitwait"
)

// gatherNode is a Node with only what gather uses: the queue, the wait,
// what the last standby-waiting commit answered, and a waiter with a sync
// standby configured.
func gatherNode(t *testing.T, wait time.Duration, returning int, answered time.Time) *Node {
	return gatherNodeWith(t, "ANY 1 (n2)", wait, returning, answered)
}

func gatherNodeWith(t *testing.T, standbys string, wait time.Duration, returning int, answered time.Time) *Node {
	t.Helper()
	opts := commitwait.DefaultOptions()
	var err error
	if opts.Config, err = commitwait.Parse(standbys); err != nil {
		t.Fatal(err)
	}
	w, err := commitwait.NewWaiter(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &Node{
		cfg:       Config{GroupCommitWait: wait, MaxBatch: 512},
		reqs:      make(chan *writeReq, 16),
		gathering: gatherState{returning: returning, answered: answered},
		waiter:    w,
	}
}

// gatherWithin runs gather and fails the test if it has not returned
// within the deadline; the waits in these tests are far longer, so a
// gather that waits when it should not fails here.
func gatherWithin(t *testing.T, n *Node, ctx context.Context, batch []*writeReq) []*writeReq {
	t.Helper()
	done := make(chan []*writeReq, 1)
	go func() { done <- n.gather(ctx, batch) }()
	select {
	case got := <-done:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("gather is still waiting after 10 s")
		return nil
	}
}

func queuedReq(level command.CommitLevel) *writeReq {
	return &writeReq{req: &command.ExecuteRequest{Commit: level}, done: make(chan struct{})}
}

func TestGather_WaitsForTheClientsTheLastCommitAnswered(t *testing.T) {
	// The wait is far longer than the test may take: gather must stop
	// as soon as the third request is in, not when the wait runs out.
	n := gatherNode(t, time.Minute, 3, time.Now().Add(time.Minute))
	first := queuedReq(command.CommitRemoteFlush)
	first.take()
	go func() {
		n.reqs <- queuedReq(command.CommitRemoteFlush)
		n.reqs <- queuedReq(command.CommitLocal)
		n.reqs <- queuedReq(command.CommitLocal) // not expected: stays queued
	}()
	batch := gatherWithin(t, n, context.Background(), []*writeReq{first})
	if len(batch) != 3 {
		t.Fatalf("gathered %d requests, want 3", len(batch))
	}
	for i, r := range batch {
		if r.state.Load() != reqTaken {
			t.Errorf("request %d was not taken", i)
		}
	}
}

func TestGather_StopsAtMaxBatch(t *testing.T) {
	n := gatherNode(t, time.Minute, 10, time.Now().Add(time.Minute))
	n.cfg.MaxBatch = 2
	n.reqs <- queuedReq(command.CommitRemoteFlush)
	n.reqs <- queuedReq(command.CommitRemoteFlush)
	batch := gatherWithin(t, n, context.Background(), []*writeReq{queuedReq(command.CommitRemoteFlush)})
	if len(batch) != 2 || len(n.reqs) != 1 {
		t.Fatalf("gathered %d requests leaving %d queued, want 2 (MaxBatch) leaving 1", len(batch), len(n.reqs))
	}
}

func TestGather_StopsWhenTheWriterStops(t *testing.T) {
	n := gatherNode(t, time.Minute, 8, time.Now().Add(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if batch := gatherWithin(t, n, ctx, []*writeReq{queuedReq(command.CommitRemoteFlush)}); len(batch) != 1 {
		t.Fatalf("gathered %d requests, want 1", len(batch))
	}
}

func TestGather_GivesUpAfterTheWait(t *testing.T) {
	const wait = 20 * time.Millisecond
	n := gatherNode(t, wait, 8, time.Now().Add(time.Minute))
	start := time.Now()
	batch := n.gather(context.Background(), []*writeReq{queuedReq(command.CommitRemoteApply)})
	if len(batch) != 1 {
		t.Fatalf("gathered %d requests, want the 1 there was", len(batch))
	}
	if took := time.Since(start); took < wait {
		t.Fatalf("gather returned after %v, before its %v wait", took, wait)
	}
}

func TestGather_SkipsAbandonedRequests(t *testing.T) {
	n := gatherNode(t, time.Minute, 2, time.Now().Add(time.Minute))
	gone := queuedReq(command.CommitRemoteFlush)
	gone.state.Store(reqAbandoned)
	n.reqs <- gone
	kept := queuedReq(command.CommitRemoteFlush)
	n.reqs <- kept
	batch := gatherWithin(t, n, context.Background(), []*writeReq{queuedReq(command.CommitRemoteFlush)})
	if len(batch) != 2 || batch[1] != kept {
		t.Fatalf("gathered %d requests, want the first and the one not abandoned", len(batch))
	}
}

// In each of these cases gather must neither wait nor take the requests
// queued behind the batch.
func TestGather_DoesNotWait(t *testing.T) {
	fresh := time.Now().Add(time.Minute)
	remote := func() []*writeReq { return []*writeReq{queuedReq(command.CommitRemoteFlush)} }
	cases := []struct {
		name  string
		n     func(t *testing.T) *Node
		batch []*writeReq
	}{
		{"commit that does not wait for standbys", func(t *testing.T) *Node { return gatherNode(t, time.Minute, 8, fresh) },
			[]*writeReq{queuedReq(command.CommitLocal), queuedReq(command.CommitOff)}},
		{"turned off", func(t *testing.T) *Node { return gatherNode(t, 0, 8, fresh) }, remote()},
		{"everyone is back", func(t *testing.T) *Node { return gatherNode(t, time.Minute, 2, fresh) },
			[]*writeReq{queuedReq(command.CommitRemoteFlush), queuedReq(command.CommitRemoteFlush)}},
		{"last answers are old", func(t *testing.T) *Node { return gatherNode(t, time.Minute, 8, time.Now().Add(-time.Second)) }, remote()},
		{"nothing answered yet", func(t *testing.T) *Node { return gatherNode(t, time.Minute, 0, time.Time{}) }, remote()},
		{"no sync standbys", func(t *testing.T) *Node { return gatherNodeWith(t, "", time.Minute, 8, fresh) }, remote()},
		{"after_commit", func(t *testing.T) *Node {
			n := gatherNode(t, time.Minute, 8, fresh)
			n.afterCommit = true
			return n
		}, remote()},
		{"waiter fenced", func(t *testing.T) *Node {
			n := gatherNode(t, time.Minute, 8, fresh)
			n.waiter.Fence(errSwitchover)
			return n
		}, remote()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.n(t)
			for range 3 {
				n.reqs <- queuedReq(command.CommitRemoteFlush)
			}
			got := gatherWithin(t, n, context.Background(), c.batch)
			if len(got) != len(c.batch) || len(n.reqs) != 3 {
				t.Fatalf("gathered %d requests leaving %d queued, want the %d given leaving 3", len(got), len(n.reqs), len(c.batch))
			}
		})
	}
}

// A commit that waited for standbys tells the next gather how many
// clients it answered; one that did not leaves that alone.
func TestGather_CommitRecordsWhomItAnswered(t *testing.T) {
	n := openNode(t, t.TempDir(), func(c *Config) {
		c.SyncStandbys, c.SyncMode, c.SyncTimeout = "ANY 1 (n2)", "fallback", 10*time.Millisecond
	})
	execOK(t, n, "CREATE TABLE t (v INTEGER PRIMARY KEY)")
	if g := n.gathering; g.returning != 0 {
		t.Fatalf("a commit=local commit set gathering to %+v", g)
	}
	before := time.Now()
	req := &command.ExecuteRequest{Statements: []command.Statement{{SQL: "INSERT INTO t VALUES (1)"}}, Commit: command.CommitRemoteFlush}
	resp, err := n.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.Results[0].Error; e != "" {
		t.Fatal(e)
	}
	// The reply happens after the writer set gathering (it closes the
	// request's done channel), and no other write runs meanwhile.
	if g := n.gathering; g.returning != 1 || g.answered.Before(before) {
		t.Fatalf("after one remote_flush commit gathering is %+v, want 1 answered after %v", g, before)
	}
}
