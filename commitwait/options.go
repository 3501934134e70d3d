package commitwait

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Mode says what a Wait does when its quorum does not acknowledge within
// Options.Timeout.
type Mode int

const (
	// Strict fails the Wait with a *TimeoutError (or, with no Timeout,
	// waits until its context ends): writes block while too few standbys
	// keep up.
	Strict Mode = iota
	// Fallback degrades to asynchronous commit: the Wait and every later
	// one return at once with Result.Degraded until the quorum catches up.
	Fallback
)

var modeNames = [...]string{"strict", "fallback"}

// String returns "strict" or "fallback".
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode reads "strict" or "fallback" (any case); "" is strict.
func ParseMode(s string) (Mode, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Strict, nil
	}
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown mode %q; use strict or fallback", ErrBadOptions, s)
}

// DefaultFallbackTimeout is a reasonable Options.Timeout for Fallback mode.
const DefaultFallbackTimeout = 10 * time.Second

// Options configure a Waiter. Start from DefaultOptions.
type Options struct {
	// Config names the standbys to wait for; the zero Config is async.
	Config Config
	// Mode says what happens when Timeout passes without a quorum.
	Mode Mode
	// Timeout bounds each Wait. Zero means no bound, which only Strict
	// mode allows: writes then wait as long as their context lets them.
	Timeout time.Duration
	// Now reads the clock for State.Since; time.Now by default.
	Now func() time.Time
	// AfterFunc runs f once d has passed, unless the returned stop is
	// called first, and reports like time.Timer.Stop whether it stopped
	// it. It arms Wait's timeouts; time.AfterFunc by default. Tests pass
	// a fake clock.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Logger receives one line when synchronous commit degrades and one
	// when it recovers.
	Logger *slog.Logger
}

// DefaultOptions returns strict, async (no standby), unbounded options.
func DefaultOptions() Options {
	return Options{
		Mode:      Strict,
		Now:       time.Now,
		AfterFunc: realAfterFunc,
		Logger:    slog.Default(),
	}
}

func realAfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// withDefaults fills nil fields from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Now == nil {
		o.Now = d.Now
	}
	if o.AfterFunc == nil {
		o.AfterFunc = d.AfterFunc
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	return o
}

// Validate reports the first problem with the options, if any.
func (o Options) Validate() error {
	if err := o.Config.Validate(); err != nil {
		return err
	}
	return validateMode(o.Mode, o.Timeout)
}

func validateMode(m Mode, timeout time.Duration) error {
	switch {
	case m != Strict && m != Fallback:
		return fmt.Errorf("%w: unknown mode %s; use Strict or Fallback", ErrBadOptions, m)
	case timeout < 0:
		return fmt.Errorf("%w: negative Timeout %s", ErrBadOptions, timeout)
	case m == Fallback && timeout == 0:
		return fmt.Errorf("%w: fallback mode needs a Timeout after which to degrade, e.g. %s", ErrBadOptions, DefaultFallbackTimeout)
	}
	return nil
}
