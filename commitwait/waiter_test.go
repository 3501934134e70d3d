package commitwait

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

const (
	flush = command.CommitRemoteFlush
	apply = command.CommitRemoteApply
	write = command.CommitRemoteWrite
)

func TestWaiter_FirstWaitsForPriority(t *testing.T) {
	t.Run("sync standby acks", func(t *testing.T) {
		h := newHarness(t, "FIRST 1 (n2, n3)", Strict, 0)
		h.Update("n2", at(0))
		ch := goWait(t.Context(), h.Waiter, flush, 100)
		waitPending(t, h.Waiter, 1)
		h.Update("n3", at(500)) // potential: does not count
		if got := h.waiting(); got != 1 {
			t.Fatalf("n3's ack released the wait while n2 is the sync standby")
		}
		h.Update("n2", Positions{Write: 200, Flush: 99})
		if got := h.waiting(); got != 1 {
			t.Fatalf("n2 flushed 99 < 100 but the wait was released")
		}
		h.Update("n2", Positions{Write: 200, Flush: 150})
		o := recv(t, ch)
		if o.err != nil || o.res != (Result{Acked: 150}) {
			t.Fatalf("Wait = %+v, %v; want Acked 150", o.res, o.err)
		}
	})
	t.Run("sync standby disconnects", func(t *testing.T) {
		h := newHarness(t, "FIRST 1 (n2, n3)", Strict, 0)
		h.Update("n2", at(0))
		h.Update("n3", at(200))
		ch := goWait(t.Context(), h.Waiter, flush, 100)
		waitPending(t, h.Waiter, 1)
		if got, want := h.State().SyncStates["n3"], StatePotential; got != want {
			t.Fatalf("n3 is %s, want %s", got, want)
		}
		h.Disconnect("n2") // n3 becomes the sync standby; its ack is enough
		o := recv(t, ch)
		if o.err != nil || o.res != (Result{Acked: 200}) {
			t.Fatalf("Wait = %+v, %v; want Acked 200", o.res, o.err)
		}
		if got, want := h.State().SyncStates["n3"], StateSync; got != want {
			t.Fatalf("n3 is %s, want %s", got, want)
		}
	})
}

func TestWaiter_AnyOneDown(t *testing.T) {
	h := newHarness(t, "ANY 1 (n2, n3)", Strict, 0)
	ch := goWait(t.Context(), h.Waiter, apply, 64)
	waitPending(t, h.Waiter, 1)
	h.Update("n2", Positions{Write: 64, Flush: 64, Apply: 63})
	h.Update("n9", at(1000)) // unlisted
	if got := h.waiting(); got != 1 {
		t.Fatal("released before n2 applied 64")
	}
	h.Update("n2", at(64))
	if o := recv(t, ch); o.err != nil || o.res.Acked != 64 {
		t.Fatalf("Wait = %+v, %v", o.res, o.err)
	}
	// Covered already: returns at once.
	if r, err := h.Wait(t.Context(), write, 10); err != nil || r != (Result{Acked: 64}) {
		t.Fatalf("covered Wait = %+v, %v", r, err)
	}
}

func TestWaiter_StrictTimeout(t *testing.T) {
	h := newHarness(t, "ANY 1 (n2,n3)", Strict, 5*time.Second)
	h.Update("n2", Positions{Write: 0x1A00, Flush: 0x1000})
	ch := goWait(t.Context(), h.Waiter, flush, 0x1A00)
	waitPending(t, h.Waiter, 1)
	h.clock.Advance(4 * time.Second)
	if got := h.waiting(); got != 1 {
		t.Fatal("timed out early")
	}
	h.clock.Advance(time.Second)
	o := recv(t, ch)
	if !errors.Is(o.err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", o.err)
	}
	var te *TimeoutError
	if !errors.As(o.err, &te) || te.LSN != 0x1A00 || te.Level != flush {
		t.Fatalf("err = %#v, want a *TimeoutError for remote_flush 0/00001A00", o.err)
	}
	want := "remote_flush ANY 1 (n2,n3) not reached for LSN 0/00001A00 after 5s: connected n2 flush 0/00001000; n3 not connected"
	if !strings.Contains(o.err.Error(), want) {
		t.Fatalf("error text:\n%s\nwant it to contain:\n%s", o.err, want)
	}
	if st := h.State(); st.Degraded || st.Waiting != 0 || h.clock.Armed() != 0 {
		t.Fatalf("after timeout: %+v, %d timers armed", st, h.clock.Armed())
	}
}

func TestWaiter_StrictTimeoutRealTimer(t *testing.T) {
	cfg, _ := Parse("FIRST 1 (n2, *)")
	w, err := NewWaiter(Options{Config: cfg, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Update("n7", at(5))
	_, err = w.Wait(t.Context(), flush, 10)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "n2 not connected; connected n7 flush 0/00000005") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaiter_FallbackDegradesAndRecovers(t *testing.T) {
	h := newHarness(t, "FIRST 1 (n2)", Fallback, time.Second)
	h.Update("n2", at(10))
	a := goWait(t.Context(), h.Waiter, flush, 100)
	b := goWait(t.Context(), h.Waiter, apply, 200)
	waitPending(t, h.Waiter, 2)
	h.clock.Advance(time.Second)
	for _, ch := range []<-chan outcome{a, b} {
		if o := recv(t, ch); o.err != nil || o.res != (Result{Acked: 10, Degraded: true}) {
			t.Fatalf("timed-out Wait = %+v, %v; want degraded", o.res, o.err)
		}
	}
	st := h.State()
	if !st.Degraded || !st.Since.Equal(h.clock.Now()) || !strings.Contains(st.Reason, "FIRST 1 (n2) not reached for LSN") ||
		!strings.Contains(st.Reason, "connected n2") {
		t.Fatalf("state after timeout = %+v", st)
	}
	// Later Waits return at once, degraded, unless already covered.
	if r, err := h.Wait(t.Context(), flush, 300); err != nil || !r.Degraded {
		t.Fatalf("Wait while degraded = %+v, %v", r, err)
	}
	if r, err := h.Wait(t.Context(), flush, 10); err != nil || r != (Result{Acked: 10}) {
		t.Fatalf("covered Wait while degraded = %+v, %v", r, err)
	}
	h.Update("n2", Positions{Write: 300, Flush: 300, Apply: 150})
	if !h.State().Degraded {
		t.Fatal("recovered before apply reached 200")
	}
	h.clock.Advance(time.Minute)
	h.Update("n2", Positions{Write: 300, Flush: 300, Apply: 200})
	st = h.State()
	if st.Degraded || !strings.Contains(st.Reason, "caught up") || !st.Since.Equal(h.clock.Now()) {
		t.Fatalf("state after catching up = %+v", st)
	}
	if d, r := h.logs.Count("degraded to async"), h.logs.Count("recovered"); d != 1 || r != 1 {
		t.Fatalf("logged %d degradations and %d recoveries, want 1 each:\n%s", d, r, h.logs)
	}
	if !strings.Contains(h.logs.String(), "degraded_for=1m0s") {
		t.Fatalf("recovery log lacks the duration:\n%s", h.logs)
	}
	// Synchronous again: a Wait blocks until acked.
	c := goWait(t.Context(), h.Waiter, flush, 400)
	waitPending(t, h.Waiter, 1)
	h.Update("n2", at(400))
	if o := recv(t, c); o.err != nil || o.res != (Result{Acked: 400}) {
		t.Fatalf("Wait after recovery = %+v, %v", o.res, o.err)
	}
}

func TestWaiter_ContextCancel(t *testing.T) {
	h := newHarness(t, "ANY 1 (n2, n3)", Strict, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	ch := goWait(ctx, h.Waiter, flush, 100)
	waitPending(t, h.Waiter, 1)
	cancel()
	o := recv(t, ch)
	if !errors.Is(o.err, context.Canceled) || !strings.Contains(o.err.Error(), "n2 not connected; n3 not connected") {
		t.Fatalf("err = %v", o.err)
	}
	if n, armed := h.waiting(), h.clock.Armed(); n != 0 || armed != 0 {
		t.Fatalf("after cancel: %d waiting, %d timers armed", n, armed)
	}
	// A context that has already ended does not queue.
	if _, err := h.Wait(ctx, flush, 100); !errors.Is(err, context.Canceled) || h.waiting() != 0 {
		t.Fatalf("Wait with ended ctx = %v, %d waiting", err, h.waiting())
	}
}

func TestWaiter_Close(t *testing.T) {
	h := newHarness(t, "ANY 1 (n2)", Strict, time.Hour)
	ch := goWait(t.Context(), h.Waiter, write, 100)
	waitPending(t, h.Waiter, 1)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, ch); !errors.Is(o.err, ErrClosed) {
		t.Fatalf("pending Wait err = %v, want ErrClosed", o.err)
	}
	if _, err := h.Wait(t.Context(), write, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close = %v", err)
	}
	h.Update("n2", at(5)) // ignored, no panic
	h.Disconnect("n2")
	if err := h.SetConfig(Config{}, Strict, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetConfig after Close = %v", err)
	}
	if err := h.Close(); err != nil || !h.State().Closed || h.clock.Armed() != 0 {
		t.Fatalf("second Close = %v, state %+v", err, h.State())
	}
}

func TestWaiter_FailAll(t *testing.T) {
	errLease := errors.New("lease lost")
	h := newHarness(t, "FIRST 1 (n2)", Strict, 0)
	a := goWait(t.Context(), h.Waiter, flush, 100)
	b := goWait(t.Context(), h.Waiter, apply, 50)
	waitPending(t, h.Waiter, 2)
	h.FailAll(errLease)
	for _, ch := range []<-chan outcome{a, b} {
		if o := recv(t, ch); !errors.Is(o.err, errLease) {
			t.Fatalf("err = %v, want lease lost", o.err)
		}
	}
	// Later Waits are not affected.
	c := goWait(t.Context(), h.Waiter, flush, 100)
	waitPending(t, h.Waiter, 1)
	h.Update("n2", at(100))
	if o := recv(t, c); o.err != nil {
		t.Fatal(o.err)
	}
}

func TestWaiter_ImmediateLevels(t *testing.T) {
	h := newHarness(t, "", Strict, 0)
	if r, err := h.Wait(t.Context(), flush, 100); err != nil || r != (Result{Async: true}) {
		t.Fatalf("async config Wait = %+v, %v", r, err)
	}
	h2 := newHarness(t, "FIRST 1 (n2)", Strict, 0)
	for _, l := range []command.CommitLevel{command.CommitLocal, command.CommitOff} {
		if r, err := h2.Wait(t.Context(), l, 100); err != nil || r != (Result{}) {
			t.Fatalf("%s Wait = %+v, %v", l, r, err)
		}
	}
	if r, err := h2.Wait(t.Context(), flush, 0); err != nil || r != (Result{}) {
		t.Fatalf("Wait for LSN 0 = %+v, %v", r, err)
	}
	if _, err := h2.Wait(t.Context(), command.CommitLevel(9), 1); !errors.Is(err, command.ErrBadCommitLevel) {
		t.Fatalf("bad level err = %v", err)
	}
}

func TestWaiter_SetConfig(t *testing.T) {
	h := newHarness(t, "FIRST 1 (n2, n3)", Strict, 0)
	h.Update("n2", at(0))
	h.Update("n3", at(100))
	a := goWait(t.Context(), h.Waiter, flush, 100)
	waitPending(t, h.Waiter, 1)
	if err := h.SetConfig(Config{Method: Any, K: 1, Names: []string{"n2", "n3"}}, Strict, 0); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, a); o.err != nil || o.res.Acked != 100 {
		t.Fatalf("after FIRST -> ANY: %+v, %v", o.res, o.err)
	}

	b := goWait(t.Context(), h.Waiter, flush, 500)
	waitPending(t, h.Waiter, 1)
	if err := h.SetConfig(Config{}, Strict, 0); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, b); o.err != nil || o.res != (Result{Async: true}) {
		t.Fatalf("after -> async: %+v, %v", o.res, o.err)
	}

	if err := h.SetConfig(Config{K: 3, Names: []string{"n2"}}, Strict, 0); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("bad config err = %v", err)
	}
	if err := h.SetConfig(Config{K: 1, Names: []string{"n2"}}, Fallback, 0); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("fallback without timeout err = %v", err)
	}
}

func TestWaiter_SetConfigEndsDegradation(t *testing.T) {
	h := newHarness(t, "FIRST 1 (n2)", Fallback, time.Second)
	ch := goWait(t.Context(), h.Waiter, flush, 100)
	waitPending(t, h.Waiter, 1)
	h.clock.Advance(time.Second)
	if o := recv(t, ch); !o.res.Degraded {
		t.Fatalf("Wait = %+v, %v; want degraded", o.res, o.err)
	}
	cfg := h.State().Config
	if err := h.SetConfig(cfg, Strict, time.Second); err != nil {
		t.Fatal(err)
	}
	if st := h.State(); st.Degraded || st.Reason != "mode is now strict" {
		t.Fatalf("state = %+v", st)
	}
	ch = goWait(t.Context(), h.Waiter, flush, 100)
	waitPending(t, h.Waiter, 1)
	h.clock.Advance(time.Second)
	if o := recv(t, ch); !errors.Is(o.err, ErrTimeout) {
		t.Fatalf("strict Wait err = %v, want ErrTimeout", o.err)
	}
}

func TestNewWaiter_Validate(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want error
	}{
		{Options{Config: Config{K: 2, Names: []string{"n2"}}}, ErrBadConfig},
		{Options{Config: Config{K: 1, Names: []string{"n2"}}, Mode: Fallback}, ErrBadOptions},
		{Options{Mode: 5}, ErrBadOptions},
		{Options{Timeout: -time.Second}, ErrBadOptions},
	} {
		if _, err := NewWaiter(tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("NewWaiter(%+v) = %v, want %v", tc.opts, err, tc.want)
		}
	}
	if m, err := ParseMode("Fallback"); err != nil || m != Fallback {
		t.Errorf("ParseMode = %v, %v", m, err)
	}
	if _, err := ParseMode("lenient"); !errors.Is(err, ErrBadOptions) {
		t.Errorf("ParseMode(lenient) = %v", err)
	}
}

// TestWaiter_Concurrent runs many Waits against standbys that report
// concurrently, sometimes disconnecting, and checks that every Wait ends
// acknowledged at or past its LSN. Run it with -race.
func TestWaiter_Concurrent(t *testing.T) {
	const (
		top      = 20000
		nWaiters = 32
		nWaits   = 100
	)
	h := newHarness(t, "ANY 2 (n2, n3, n4)", Strict, 0)
	var updaters, waiters sync.WaitGroup
	for s := range 3 {
		name := fmt.Sprintf("n%d", s+2)
		updaters.Go(func() {
			r := rand.New(rand.NewPCG(uint64(s), 7))
			for l := lsn.LSN(0); l < top; l += lsn.LSN(1 + r.IntN(40)) {
				if r.IntN(50) == 0 {
					h.Disconnect(name)
				}
				h.Update(name, Positions{Write: l + 20, Flush: l + 10, Apply: l})
				_ = h.State()
			}
		})
	}
	errs := make(chan error, nWaiters)
	for i := range nWaiters {
		waiters.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 9))
			for range nWaits {
				level := remoteLevels[r.IntN(nLevels)]
				want := lsn.LSN(1 + r.IntN(top))
				res, err := h.Wait(t.Context(), level, want)
				if err != nil || res.Acked < want || res.Degraded || res.Async {
					errs <- fmt.Errorf("Wait(%s, %d) = %+v, %v", level, want, res, err)
					return
				}
			}
		})
	}
	updaters.Wait()
	for _, n := range []string{"n2", "n3", "n4"} {
		h.Update(n, at(top))
	}
	waiters.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := h.waiting(); n != 0 {
		t.Fatalf("%d Waits still pending", n)
	}
}

// A fenced waiter fails the waits pending and those that start later, until
// Unfence.
func TestWaiter_FenceFailsLaterWaits(t *testing.T) {
	opts := DefaultOptions()
	opts.Config, _ = Parse("ANY 1 (a)")
	opts.Timeout = time.Hour
	w, err := NewWaiter(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	errLost := errors.New("lease lost")
	pending := make(chan error, 1)
	go func() {
		_, err := w.Wait(context.Background(), command.CommitRemoteFlush, 10)
		pending <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); w.State().Waiting == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the wait never became pending")
		}
		time.Sleep(time.Millisecond) // polling for the goroutine to register
	}
	w.Fence(errLost)
	if err := <-pending; !errors.Is(err, errLost) {
		t.Fatalf("pending wait: %v, want the fence's error", err)
	}
	if _, err := w.Wait(context.Background(), command.CommitRemoteFlush, 20); !errors.Is(err, errLost) {
		t.Fatalf("later wait: %v, want the fence's error", err)
	}
	w.Unfence()
	w.Update("a", Positions{Write: 30, Flush: 30, Apply: 30})
	if _, err := w.Wait(context.Background(), command.CommitRemoteFlush, 30); err != nil {
		t.Fatalf("wait after Unfence: %v", err)
	}
}

// Begin returns at once; Done closes when the quorum acknowledges, and an
// already acknowledged LSN or a local level is done from the start.
func TestWaiter_BeginDone(t *testing.T) {
	h := newHarness(t, "ANY 1 (n2, n3)", Strict, 0)
	h.Update("n2", at(50))
	isDone := func(p *Pending) bool {
		select {
		case <-p.Done():
			return true
		default:
			return false
		}
	}
	if p := h.Begin(flush, 40); !isDone(p) {
		t.Fatal("Begin for an LSN already flushed is not done")
	}
	if p := h.Begin(command.CommitLocal, 1000); !isDone(p) {
		t.Fatal("Begin at level local is not done")
	}
	p := h.Begin(flush, 100)
	if isDone(p) || h.waiting() != 1 {
		t.Fatalf("Begin for LSN 100 with flush at 50: done %v, %d waiting; want pending", isDone(p), h.waiting())
	}
	h.Update("n3", at(120))
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after n3 acknowledged LSN 120")
	}
	if res, err := p.Wait(t.Context()); err != nil || res != (Result{Acked: 120}) {
		t.Fatalf("Wait after Done = %+v, %v; want Acked 120", res, err)
	}
	// A cancelled context ends a pending wait with an error naming it.
	p = h.Begin(flush, 500)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Wait(ctx); err == nil || !strings.Contains(err.Error(), "LSN "+lsn.LSN(500).String()) {
		t.Fatalf("Wait with a cancelled context = %v; want an error naming LSN 500", err)
	}
	if h.waiting() != 0 {
		t.Fatalf("%d waits pending after the cancelled one ended", h.waiting())
	}
	// Cancel ends a pending wait with ErrCanceled; a finished one keeps
	// its outcome.
	p = h.Begin(flush, 600)
	p.Cancel()
	if _, err := p.Wait(t.Context()); !errors.Is(err, ErrCanceled) || h.waiting() != 0 {
		t.Fatalf("Wait after Cancel = %v with %d pending; want ErrCanceled, none pending", err, h.waiting())
	}
	p = h.Begin(flush, 100)
	p.Cancel()
	if res, err := p.Wait(t.Context()); err != nil || res.Acked != 120 {
		t.Fatalf("Cancel of a finished wait changed it: %+v, %v", res, err)
	}
}
