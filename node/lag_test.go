package node

import (
	"testing"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

func TestLagTracker(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	lt := newLagTracker()
	lt.add(100, t0)                  // a DDL, long before the load
	lt.add(200, t0.Add(time.Second)) // the load starts
	lt.add(300, t0.Add(time.Second+5*time.Millisecond))
	now := t0.Add(time.Second + 10*time.Millisecond)
	for _, c := range []struct {
		name     string
		pos, end lsn.LSN
		want     time.Duration
	}{
		{"caught up", 300, 300, 0},
		{"lacks the records durable at 1.005 s", 200, 300, 5 * time.Millisecond},
		{"lacks everything since the DDL", 50, 300, time.Second + 10*time.Millisecond},
		{"lacks the records after the DDL", 100, 300, 10 * time.Millisecond},
		// Records durable after the newest sample (an fsync whose sample
		// is not recorded yet): newer than every sample, not as old as
		// the oldest (this read 1.01 s, the DDL's age).
		{"past the newest sample", 300, 350, 0},
	} {
		if got := lt.lag(c.pos, c.end, now); got != c.want {
			t.Errorf("%s: lag(%d, %d) = %v, want %v", c.name, c.pos, c.end, got, c.want)
		}
	}
}

// A full ring keeps its whole span at a coarser spacing, instead of
// forgetting the oldest samples: a standby 10 s behind reads 10 s, not
// the 4 s that 4096 one-millisecond samples hold.
func TestLagTracker_KeepsTheSpanWhenFull(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	lt := newLagTracker()
	const n = 10000
	for i := range n {
		lt.add(lsn.LSN((i+1)*10), t0.Add(time.Duration(i)*time.Millisecond))
	}
	now := t0.Add(n * time.Millisecond)
	if got, want := lt.lag(5, n*10, now), n*time.Millisecond; got != want {
		t.Errorf("lag of a standby missing the first record = %v, want %v", got, want)
	}
	// In the middle the error is at most the spacing now in use.
	for _, i := range []int{2000, 5000, 9000} {
		want := now.Sub(t0.Add(time.Duration(i) * time.Millisecond))
		got := lt.lag(lsn.LSN(i*10+5), n*10, now)
		if got < want || got > want+lt.spacing {
			t.Errorf("lag past sample %d = %v, want %v to %v", i, got, want, want+lt.spacing)
		}
	}
}
