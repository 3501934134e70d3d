package node

import (
	"sync"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// lagTracker remembers when recent LSNs became durable on this node, so a
// standby's lag in seconds is the age of the oldest record it lacks, as
// PostgreSQL's write_lag, flush_lag and replay_lag measure it.
type lagTracker struct {
	mu      sync.Mutex
	samples []lagSample // ring, oldest first from head
	head    int
	n       int
	spacing time.Duration // least time between samples; doubles when full
}

type lagSample struct {
	end lsn.LSN
	at  time.Time
}

const lagSamples = 4096

func newLagTracker() *lagTracker {
	return &lagTracker{samples: make([]lagSample, lagSamples), spacing: time.Millisecond}
}

// add records that everything up to end was durable at at.
func (t *lagTracker) add(end lsn.LSN, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n > 0 {
		last := t.samples[(t.head+t.n-1)%lagSamples]
		if at.Sub(last.at) < t.spacing {
			// One sample per spacing is precise enough.
			t.samples[(t.head+t.n-1)%lagSamples].end = end
			return
		}
	}
	if t.n == lagSamples {
		t.coarsen()
	}
	t.samples[(t.head+t.n)%lagSamples] = lagSample{end, at}
	t.n++
}

// coarsen halves the samples kept, merging each pair into its older time
// and newer end, and doubles the spacing: the history keeps its whole span
// (a standby minutes behind still reads minutes), and a lag is overstated
// by at most the spacing. Call with mu held and the ring full.
func (t *lagTracker) coarsen() {
	merged := make([]lagSample, 0, lagSamples/2)
	for i := 0; i+1 < t.n; i += 2 {
		a, b := t.samples[(t.head+i)%lagSamples], t.samples[(t.head+i+1)%lagSamples]
		merged = append(merged, lagSample{end: b.end, at: a.at})
	}
	t.head, t.n = 0, copy(t.samples, merged)
	t.spacing *= 2
}

// lag returns how long ago the first record after pos became durable here,
// or 0 when pos is at or past end. A pos older than every sample kept is
// as old as the oldest sample (the first one past pos); a pos at or past
// the newest sample lacks only records newer than every sample, which
// count as just made durable.
func (t *lagTracker) lag(pos, end lsn.LSN, now time.Time) time.Duration {
	if pos >= end {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.n {
		s := t.samples[(t.head+i)%lagSamples]
		if s.end > pos {
			return max(now.Sub(s.at), 0)
		}
	}
	return 0
}
