package crashtest

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-db/tandem/client"
)

// Load shape of TestCrash_KillUnderLoad and TestCrash_StopUnderLoad.
const (
	loadWorkers       = 8
	maxReqsPerWorker  = 50_000 // bound per round; the kill comes long before
	minAcksBeforeKill = 20     // so every round kills a node that was doing work
	killMinDelay      = 50 * time.Millisecond
	killMaxDelay      = 400 * time.Millisecond
	progressTimeout   = 30 * time.Second
)

// TestCrash_KillUnderLoad runs a concurrent write load against a real node,
// SIGKILLs it at a seeded random moment, restarts it on the same data dir
// and checks what survived; each round kills the node that recovered in the
// round before.
func TestCrash_KillUnderLoad(t *testing.T) {
	s := seed(t)
	rounds := *flagRounds
	// The payload format stays for the data dir's life; the seed picks it.
	format := []string{"row", "statement", "mixed"}[s%3]
	t.Logf("payload format %s, %d rounds", format, rounds)
	n := newNode(t)
	var model []*loadReq
	for round := range rounds {
		rng := rand.New(rand.NewPCG(s, uint64(round)))
		// Small segments make the kill land near segment rolls too.
		segSize := []string{"4096", "65536", "16777216"}[rng.IntN(3)]
		n.args = []string{"--format", format, "--segment-size", segSize}
		n.start()
		if round == 0 {
			n.exec(client.ExecOptions{}, client.Statement{SQL: createTable})
		}
		delay := killMinDelay + time.Duration(rng.Int64N(int64(killMaxDelay-killMinDelay)))
		reqs, elapsed := runLoad(t, n, round, delay, rng.Uint64(), n.kill)
		model = append(model, reqs...)

		n.start() // recovery
		st := n.status()
		if st.Recovery.From > st.Recovery.To || st.Recovery.To != st.Log.End || st.DB.Applied != st.Log.End {
			t.Errorf("round %d: after recovery: recovery from %s to %s, applied %s, log end %s; want from <= to = applied = end",
				round, st.Recovery.From, st.Recovery.To, st.DB.Applied, st.Log.End)
		}
		counts := verifyModel(t, round, model, n.rows(), st.Log.End)
		// The next round's start recovers from a clean stop or from a
		// kill of the idle node; either way SQLite must equal the log.
		how := "SIGTERM"
		if rng.IntN(2) == 0 {
			n.stop()
		} else {
			how = "SIGKILL"
			n.kill()
		}
		r := n.checkReplay()
		t.Logf("round %d: segment size %s, killed %v into the load; %d requests: %d acknowledged (%d at commit=off lost), %d failed, %d ambiguous (%d present, %d absent); "+
			"recovery re-applied %d transactions (%s to %s); log %d records to %s in %d segments; verified node stopped by %s",
			round, segSize, elapsed.Round(time.Millisecond), len(reqs), counts[acked], counts[offLost], counts[failed], counts[ambiguous],
			counts[ambiguousPresent], counts[ambiguous]-counts[ambiguousPresent], st.Recovery.Applied, st.Recovery.From, st.Recovery.To,
			r.Records, r.LogEnd, st.Log.Segments, how)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestCrash_StopUnderLoad stops a node with SIGTERM in the middle of the
// write load. A graceful stop answers every request it took, so a request
// that got an error was never run and must be absent, unless the error says
// the transaction may still commit.
func TestCrash_StopUnderLoad(t *testing.T) {
	s := seed(t)
	n := newNode(t)
	var model []*loadReq
	for round := range 2 {
		rng := rand.New(rand.NewPCG(s, uint64(1000+round)))
		n.start()
		if round == 0 {
			n.exec(client.ExecOptions{}, client.Statement{SQL: createTable})
		}
		delay := killMinDelay + time.Duration(rng.Int64N(int64(killMaxDelay-killMinDelay)))
		reqs, elapsed := runLoad(t, n, round, delay, rng.Uint64(), n.stop)
		refused := 0
		for _, r := range reqs {
			if r.out == ambiguous && !strings.Contains(r.detail, "may still commit") {
				r.out, r.detail = failed, "refused by a stopping node: "+r.detail
				refused++
			}
		}
		model = append(model, reqs...)
		n.start()
		counts := verifyModel(t, round, model, n.rows(), n.status().Log.End)
		n.stop()
		n.checkReplay()
		t.Logf("round %d: SIGTERM %v into the load; %d requests: %d acknowledged, %d failed (%d refused while stopping), %d ambiguous",
			round, elapsed.Round(time.Millisecond), len(reqs), counts[acked], counts[failed], refused, counts[ambiguous])
		if t.Failed() {
			t.FailNow()
		}
	}
}

// runLoad runs the write load until down (n.kill or n.stop) takes the node
// down, delay after the start and once a few requests were acknowledged.
// It returns every request sent, classified.
func runLoad(t *testing.T, n *node, round int, delay time.Duration, seed uint64, down func()) ([]*loadReq, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		killed    atomic.Bool
		ackCount  atomic.Int64
		enough    = make(chan struct{})
		wg        sync.WaitGroup
		perWorker = make([][]*loadReq, loadWorkers)
	)
	// Workers end before runLoad returns, also when down fails the test.
	defer func() {
		cancel()
		wg.Wait()
	}()
	start := time.Now()
	for w := range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := 0; i < maxReqsPerWorker && ctx.Err() == nil; i++ {
				r := loadRequest(round, w, i, rng)
				sendLoad(ctx, t, n.c, r, &killed)
				perWorker[w] = append(perWorker[w], r)
				if r.out == acked && ackCount.Add(1) == minAcksBeforeKill {
					close(enough)
				}
			}
		}()
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	deadline := time.NewTimer(progressTimeout)
	defer deadline.Stop()
	// Kill once both the delay has passed and enough requests were acked.
	waitAcks, waitDelay := (<-chan struct{})(enough), timer.C
	for waitAcks != nil || waitDelay != nil {
		select {
		case <-waitAcks:
			waitAcks = nil
		case <-waitDelay:
			waitDelay = nil
		case <-deadline.C:
			killed.Store(true)
			down()
			t.Fatalf("round %d: only %d requests acknowledged after %v", round, ackCount.Load(), progressTimeout)
		}
	}
	elapsed := time.Since(start)
	killed.Store(true)
	down()
	cancel()
	wg.Wait()
	var all []*loadReq
	for _, rs := range perWorker {
		all = append(all, rs...)
	}
	return all, elapsed
}
