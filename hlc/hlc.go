package hlc

import (
	"fmt"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: 48 bits of Unix milliseconds,
// then 16 bits of logical counter.
type Timestamp uint64

const logicalBits = 16

// New builds a Timestamp from wall milliseconds and a logical counter.
func New(ms int64, logical uint16) Timestamp {
	return Timestamp(uint64(ms)<<logicalBits | uint64(logical))
}

// Millis returns the wall-clock part in Unix milliseconds.
func (t Timestamp) Millis() int64 { return int64(uint64(t) >> logicalBits) }

// Logical returns the logical counter.
func (t Timestamp) Logical() uint16 { return uint16(t) }

// Time returns the wall-clock part as a time.Time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Millis()).UTC() }

// String prints the wall time in RFC 3339 with milliseconds, then the counter.
func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().Format("2006-01-02T15:04:05.000Z"), t.Logical())
}

// Clock hands out strictly increasing timestamps. It is safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	wall func() time.Time
	last Timestamp
}

// NewClock returns a clock reading wall time from wall; nil means time.Now.
func NewClock(wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall}
}

// Now returns a timestamp larger than every one this clock returned or saw.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advance(0)
}

// Update folds in a timestamp observed from elsewhere (a peer's record) and
// returns a local timestamp larger than both it and every earlier reading.
func (c *Clock) Update(seen Timestamp) Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advance(seen)
}

// Last returns the largest timestamp handed out or seen so far.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *Clock) advance(seen Timestamp) Timestamp {
	floor := max(c.last, seen)
	next := New(c.wall().UnixMilli(), 0)
	if next <= floor {
		// Wall clock did not move past what we have seen: count logically.
		// Overflowing the 16-bit counter carries into the millisecond part,
		// which keeps the order strict.
		next = floor + 1
	}
	c.last = next
	return next
}
