package node

import (
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
)

// gatherNode is a Node with only what gather uses: the queue, the wait and
// what the last standby-waiting commit answered.
func gatherNode(wait time.Duration, returning int, answered time.Time) *Node {
	return &Node{
		cfg:       Config{GroupCommitWait: wait, MaxBatch: 512},
		reqs:      make(chan *writeReq, 16),
		gathering: gatherState{returning: returning, answered: answered},
	}
}

func queuedReq(level command.CommitLevel) *writeReq {
	return &writeReq{req: &command.ExecuteRequest{Commit: level}, done: make(chan struct{})}
}

func TestGather_WaitsForTheClientsTheLastCommitAnswered(t *testing.T) {
	// The wait is far longer than the test may take: gather must stop
	// as soon as the third request is in, not when the wait runs out.
	n := gatherNode(time.Minute, 3, time.Now().Add(time.Minute))
	first := queuedReq(command.CommitRemoteFlush)
	first.take()
	go func() {
		n.reqs <- queuedReq(command.CommitRemoteFlush)
		n.reqs <- queuedReq(command.CommitLocal)
	}()
	done := make(chan []*writeReq)
	go func() { done <- n.gather([]*writeReq{first}) }()
	select {
	case batch := <-done:
		if len(batch) != 3 {
			t.Fatalf("gathered %d requests, want 3", len(batch))
		}
		for i, r := range batch {
			if r.state.Load() != reqTaken {
				t.Errorf("request %d was not taken", i)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gather did not return once the three requests were in")
	}
}

func TestGather_GivesUpAfterTheWait(t *testing.T) {
	const wait = 20 * time.Millisecond
	n := gatherNode(wait, 8, time.Now().Add(time.Minute))
	start := time.Now()
	batch := n.gather([]*writeReq{queuedReq(command.CommitRemoteApply)})
	if len(batch) != 1 {
		t.Fatalf("gathered %d requests, want the 1 there was", len(batch))
	}
	if took := time.Since(start); took < wait {
		t.Fatalf("gather returned after %v, before its %v wait", took, wait)
	}
}

func TestGather_SkipsAbandonedRequests(t *testing.T) {
	n := gatherNode(time.Minute, 2, time.Now().Add(time.Minute))
	gone := queuedReq(command.CommitRemoteFlush)
	gone.state.Store(reqAbandoned)
	n.reqs <- gone
	kept := queuedReq(command.CommitRemoteFlush)
	n.reqs <- kept
	batch := n.gather([]*writeReq{queuedReq(command.CommitRemoteFlush)})
	if len(batch) != 2 || batch[1] != kept {
		t.Fatalf("gathered %d requests, want the first and the one not abandoned", len(batch))
	}
}

// In each of these cases gather must not wait at all; the wait is a minute
// so that a wrong wait fails the test by its timeout, not by a timing.
func TestGather_DoesNotWait(t *testing.T) {
	fresh := time.Now().Add(time.Minute)
	cases := []struct {
		name  string
		n     *Node
		batch []*writeReq
	}{
		{"commit that does not wait for standbys", gatherNode(time.Minute, 8, fresh), []*writeReq{queuedReq(command.CommitLocal), queuedReq(command.CommitOff)}},
		{"turned off", gatherNode(0, 8, fresh), []*writeReq{queuedReq(command.CommitRemoteFlush)}},
		{"everyone is back", gatherNode(time.Minute, 2, fresh), []*writeReq{queuedReq(command.CommitRemoteFlush), queuedReq(command.CommitRemoteFlush)}},
		{"last answers are old", gatherNode(time.Minute, 8, time.Now().Add(-time.Second)), []*writeReq{queuedReq(command.CommitRemoteFlush)}},
		{"nothing answered yet", gatherNode(time.Minute, 0, time.Time{}), []*writeReq{queuedReq(command.CommitRemoteFlush)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.n.gather(c.batch); len(got) != len(c.batch) {
				t.Fatalf("gathered %d requests, want the %d given", len(got), len(c.batch))
			}
		})
	}
	t.Run("after_commit", func(t *testing.T) {
		n := gatherNode(time.Minute, 8, fresh)
		n.afterCommit = true
		if got := n.gather([]*writeReq{queuedReq(command.CommitRemoteFlush)}); len(got) != 1 {
			t.Fatalf("gathered %d requests, want 1", len(got))
		}
	})
}
