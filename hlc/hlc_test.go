package hlc

import (
	"testing"
	"time"
)

func TestClock_Now(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	c := NewClock(func() time.Time { return wall })
	a := c.Now()
	b := c.Now()
	if got, want := a, New(1_000_000, 0); got != want {
		t.Fatalf("first = %v, want %v", got, want)
	}
	if got, want := b, New(1_000_000, 1); got != want {
		t.Fatalf("second = %v, want %v", got, want)
	}
	wall = wall.Add(-time.Second) // clock steps back
	if d := c.Now(); d <= b {
		t.Fatalf("after step back %v <= %v", d, b)
	}
	wall = wall.Add(10 * time.Second)
	if got, want := c.Now(), New(1_009_000, 0); got != want {
		t.Fatalf("after step forward = %v, want %v", got, want)
	}
}

func TestClock_Update(t *testing.T) {
	wall := time.UnixMilli(500)
	c := NewClock(func() time.Time { return wall })
	remote := New(900, 7)
	got := c.Update(remote)
	if got <= remote {
		t.Fatalf("Update = %v, want > %v", got, remote)
	}
	if got, want := got, New(900, 8); got != want {
		t.Fatalf("Update = %v, want %v", got, want)
	}
	if c.Last() != got {
		t.Fatalf("Last = %v", c.Last())
	}
}

func TestTimestamp_Parts(t *testing.T) {
	ts := New(1_700_000_000_123, 42)
	if ts.Millis() != 1_700_000_000_123 || ts.Logical() != 42 {
		t.Fatalf("parts = %d %d", ts.Millis(), ts.Logical())
	}
	if got, want := ts.String(), "2023-11-14T22:13:20.123Z+42"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}
