package commitwait

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// Result describes how a Wait ended without error.
type Result struct {
	// Acked is the level's watermark when the Wait returned: at least the
	// LSN waited for, unless Async or Degraded is set.
	Acked lsn.LSN
	// Async reports that the config names no standby, so nothing was
	// waited for.
	Async bool
	// Degraded reports that Fallback mode had degraded to asynchronous
	// commit: the LSN was not acknowledged by the quorum.
	Degraded bool
}

// Waiter holds the primary's acknowledgement watermarks, one per commit
// level, and the Waits subscribed to them. It starts no goroutine; Update,
// Disconnect and SetConfig wake the Waits they satisfy, and timeouts run on
// Options.AfterFunc. It is safe for concurrent use.
type Waiter struct {
	now       func() time.Time
	afterFunc func(time.Duration, func()) func() bool
	log       *slog.Logger

	mu       sync.Mutex
	cfg      Config
	mode     Mode
	timeout  time.Duration
	standbys map[string]Positions // connected standbys
	acked    [nLevels]lsn.LSN     // ackedAll(cfg, standbys)
	queues   [nLevels]waitHeap    // pending Waits per level
	closed   bool
	fence    error            // set by Fence: every Wait fails with it until Unfence
	degraded bool             // Fallback gave up waiting; see fallback.go
	since    time.Time        // when degraded last changed
	reason   string           // why it last changed
	need     [nLevels]lsn.LSN // what the quorum must ack to recover
}

// NewWaiter returns a Waiter for the options; nil Now, AfterFunc and Logger
// take their defaults.
func NewWaiter(opts Options) (*Waiter, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	w := &Waiter{
		now:       opts.Now,
		afterFunc: opts.AfterFunc,
		log:       opts.Logger,
		cfg:       cloneConfig(opts.Config),
		mode:      opts.Mode,
		timeout:   opts.Timeout,
		standbys:  map[string]Positions{},
	}
	w.since = w.now()
	return w, nil
}

func cloneConfig(c Config) Config {
	c.Names = append([]string(nil), c.Names...)
	return c
}

// Wait returns once the quorum has acknowledged at at the level. Levels
// off and local return at once, and so does every level under an async
// config (Result.Async). Otherwise Wait blocks until the quorum
// acknowledges, ctx ends, Close or FailAll is called, or Timeout passes:
// then Strict mode returns a *TimeoutError and Fallback mode degrades
// (Result.Degraded). The error says which standbys were missing.
func (w *Waiter) Wait(ctx context.Context, level command.CommitLevel, at lsn.LSN) (Result, error) {
	return w.Begin(level, at).Wait(ctx)
}

// Pending is a Wait in progress, started by Begin. A writer that has other
// work while the standbys acknowledge selects on Done, then calls Wait for
// the outcome.
type Pending struct {
	w  *Waiter
	wt *waiter
}

// Begin starts a Wait for at at the level and returns at once. The wait
// ends as Wait describes; its timeout (if any) runs from now.
func (w *Waiter) Begin(level command.CommitLevel, at lsn.LSN) *Pending {
	i, ok := levelIndex(level)
	wt := &waiter{level: i, at: at, idx: -1, done: make(chan struct{})}
	p := &Pending{w: w, wt: wt}
	if !ok {
		if level != command.CommitLocal && level != command.CommitOff {
			wt.err = fmt.Errorf("commitwait: %w: %s", command.ErrBadCommitLevel, level)
		}
		close(wt.done)
		return p
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		wt.err = ErrClosed
	case w.fence != nil:
		wt.err = fmt.Errorf("commitwait: %s wait for LSN %s: %w", remoteLevels[i], at, w.fence)
	case w.cfg.Async():
		wt.res = Result{Async: true}
	case at <= w.acked[i]:
		wt.res = Result{Acked: w.acked[i]}
	case w.degraded:
		w.need[i] = max(w.need[i], at)
		wt.res = Result{Acked: w.acked[i], Degraded: true}
	default:
		heap.Push(&w.queues[i], wt)
		if w.timeout > 0 {
			wt.stop = w.afterFunc(w.timeout, func() { w.expire(wt) })
		}
		return p
	}
	close(wt.done)
	return p
}

// Cancel ends the wait, if it is still pending, with ErrCanceled: its
// timeout no longer runs (nor, in Fallback mode, degrades anything).
func (p *Pending) Cancel() {
	w, wt := p.w, p.wt
	w.mu.Lock()
	if wt.idx >= 0 {
		w.finish(wt, Result{}, ErrCanceled)
	}
	w.mu.Unlock()
}

// Done is closed when the wait has ended; Wait then returns at once.
func (p *Pending) Done() <-chan struct{} { return p.wt.done }

// Wait returns the outcome, waiting for it until ctx ends (which ends the
// wait with an error naming the missing standbys).
func (p *Pending) Wait(ctx context.Context) (Result, error) {
	w, wt := p.w, p.wt
	select {
	case <-wt.done:
		return wt.res, wt.err
	case <-ctx.Done():
	}
	w.mu.Lock()
	if wt.idx >= 0 {
		w.finish(wt, Result{}, w.ctxError(ctx, wt.level, wt.at))
	}
	w.mu.Unlock()
	<-wt.done // finished by us or, first, by an ack, timeout or Close
	return wt.res, wt.err
}

// ctxError explains a Wait that its context ended. Call with mu held.
func (w *Waiter) ctxError(ctx context.Context, i int, at lsn.LSN) error {
	return fmt.Errorf("commitwait: %s %s wait for LSN %s ended (%s): %w",
		remoteLevels[i], w.cfg, at, describeStandbys(w.cfg, remoteLevels[i], w.standbys), context.Cause(ctx))
}

// Update records a standby's acknowledged positions and wakes the Waits
// they satisfy. Positions are taken as given: a standby that reports less
// than before (a reseeded node) lowers the watermark rather than being
// credited with records it no longer has.
func (w *Waiter) Update(name string, p Positions) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.standbys[name] = p
	w.recompute()
}

// Disconnect forgets a standby. Under FIRST k the next standby by priority
// takes its place in the sync set, and may release Waits.
func (w *Waiter) Disconnect(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	delete(w.standbys, name)
	w.recompute()
}

// SetConfig changes the config, mode and timeout live. Pending Waits are
// judged against the new config at once (an async config releases them
// with Result.Async); a new timeout applies to Waits that start later.
// Making the config async or the mode Strict ends a degradation.
func (w *Waiter) SetConfig(cfg Config, mode Mode, timeout time.Duration) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := validateMode(mode, timeout); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.cfg, w.mode, w.timeout = cloneConfig(cfg), mode, timeout
	if cfg.Async() {
		w.finishAll(func(*waiter) (Result, error) { return Result{Async: true}, nil })
	}
	switch {
	case !w.degraded:
	case cfg.Async():
		w.recover("standby config is now async")
	case mode == Strict:
		w.recover("mode is now strict")
	}
	w.recompute()
	return nil
}

// FailAll fails every pending Wait with err, wrapped with its level and
// LSN. The primary calls it when it loses its lease, after it has stopped
// accepting writes; Waits that start later are not affected.
func (w *Waiter) FailAll(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finishAll(func(wt *waiter) (Result, error) {
		return Result{}, fmt.Errorf("commitwait: %s wait for LSN %s: %w", remoteLevels[wt.level], wt.at, err)
	})
}

// Fence fails every pending Wait with err, as FailAll does, and every later
// one until Unfence: a primary that lost its lease calls it, so that no
// commit waits for acks it may no longer count on, however late the wait
// starts.
func (w *Waiter) Fence(err error) {
	w.mu.Lock()
	w.fence = err
	w.mu.Unlock()
	w.FailAll(err)
}

// Unfence lets Waits block again; the primary calls it once it holds its
// lease again.
func (w *Waiter) Unfence() {
	w.mu.Lock()
	w.fence = nil
	w.mu.Unlock()
}

// Close fails every pending and later Wait with ErrClosed and ignores later
// updates. It always returns nil.
func (w *Waiter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.finishAll(func(*waiter) (Result, error) { return Result{}, ErrClosed })
	return nil
}

// recompute refreshes the watermarks, wakes the Waits they satisfy and ends
// a degradation once the quorum has caught up. Call with mu held.
func (w *Waiter) recompute() {
	w.acked = ackedAll(w.cfg, w.standbys)
	for i := range w.queues {
		q := &w.queues[i]
		for q.Len() > 0 && (*q)[0].at <= w.acked[i] {
			w.finish((*q)[0], Result{Acked: w.acked[i]}, nil)
		}
	}
	if w.degraded {
		w.maybeRecover()
	}
}

// expire handles a Wait's timeout. Call without mu.
func (w *Waiter) expire(wt *waiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt.idx < 0 {
		return // finished while the timer fired
	}
	level := remoteLevels[wt.level]
	if w.mode == Fallback {
		w.degrade(notReached(w.cfg, level, wt.at, w.timeout, w.standbys))
		return
	}
	w.finish(wt, Result{}, &TimeoutError{
		Level: level, LSN: wt.at, Config: cloneConfig(w.cfg), After: w.timeout,
		Standbys: clonePositions(w.standbys),
	})
}

// finish removes a pending Wait, stops its timer and hands it its outcome.
// Call with mu held.
func (w *Waiter) finish(wt *waiter, r Result, err error) {
	heap.Remove(&w.queues[wt.level], wt.idx)
	if wt.stop != nil {
		wt.stop()
	}
	wt.res, wt.err = r, err
	close(wt.done)
}

// finishAll finishes every pending Wait with what f returns for it. Call
// with mu held.
func (w *Waiter) finishAll(f func(*waiter) (Result, error)) {
	for i := range w.queues {
		for w.queues[i].Len() > 0 {
			wt := w.queues[i][0]
			r, err := f(wt)
			w.finish(wt, r, err)
		}
	}
}

func clonePositions(m map[string]Positions) map[string]Positions {
	c := make(map[string]Positions, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
