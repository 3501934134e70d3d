package commitwait

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// fakeClock is a manual clock for Options.Now and Options.AfterFunc.
// Timers fire only in Advance, on the caller's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	when time.Time
	f    func()
	done bool // fired or stopped
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{when: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.done {
			return false
		}
		t.done = true
		return true
	}
}

// Advance moves the clock by d and runs the timers that fall due, earliest
// first.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, keep []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.done:
		case !t.when.After(c.now):
			t.done = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.when.Compare(b.when) })
	for _, t := range due {
		t.f()
	}
}

// Armed counts timers neither fired nor stopped.
func (c *fakeClock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// logBuffer collects slog output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) Count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// at returns Positions with all three LSNs equal.
func at(l lsn.LSN) Positions { return Positions{l, l, l} }

type harness struct {
	*Waiter
	clock *fakeClock
	logs  *logBuffer
}

func newHarness(t *testing.T, cfg string, mode Mode, timeout time.Duration) *harness {
	t.Helper()
	c, err := Parse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{clock: newFakeClock(), logs: &logBuffer{}}
	h.Waiter, err = NewWaiter(Options{
		Config: c, Mode: mode, Timeout: timeout,
		Now: h.clock.Now, AfterFunc: h.clock.AfterFunc,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// outcome is what a Wait returned.
type outcome struct {
	res Result
	err error
}

// goWait runs Wait on a goroutine and delivers its outcome.
func goWait(ctx context.Context, w *Waiter, level command.CommitLevel, l lsn.LSN) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		r, err := w.Wait(ctx, level, l)
		ch <- outcome{r, err}
	}()
	return ch
}

// waiting returns the number of pending Waits.
func (w *Waiter) waiting() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i := range w.queues {
		n += w.queues[i].Len()
	}
	return n
}

// waitPending polls until n Waits are queued.
func waitPending(t *testing.T, w *Waiter, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for w.waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Waits pending, want %d", w.waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func recv(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return")
		return outcome{}
	}
}
