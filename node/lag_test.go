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
