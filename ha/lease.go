package ha

import (
	"fmt"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// LeaseTimer is the primary's own view of its lease: whether it may still
// write, and when to renew. It is pure (time comes in as arguments) and not
// safe for concurrent use; the node's writer owns one per term.
//
// The primary renews with the command Renewal builds, whose Until is
// Now+duration by the primary's clock, and calls Renewed only once the
// state machine has accepted it. It may write until Until-margin of the
// latest accepted renewal. A renewal that was applied but whose reply was
// lost leaves the primary on its earlier, shorter deadline: the primary's
// view never outlasts the lease in the cluster state. Pass time.Now()
// values: they carry Go's monotonic reading, so a step of the wall clock
// does not stretch the primary's own deadline.
type LeaseTimer struct {
	duration, margin, every time.Duration
	until                   time.Time // Until of the latest accepted renewal
	sent                    time.Time // its Now
}

// NewLeaseTimer returns a timer for leases of duration d, renewed every d/3,
// that stops writes margin before each lease ends. The margin must cover
// the largest offset between the primary's clock and the clock of whoever
// proposes a Promote, and be under d/3, so two renewals are tried before
// writes stop.
func NewLeaseTimer(d, margin time.Duration) (*LeaseTimer, error) {
	if d <= 0 || d > MaxLeaseDuration {
		return nil, fmt.Errorf("%w: lease duration %s: want more than 0 and at most %s", ErrBadConfig, d, MaxLeaseDuration)
	}
	if margin < 0 || margin >= d/3 {
		return nil, fmt.Errorf("%w: lease margin %s: want at least 0 and under a third of the lease duration %s", ErrBadConfig, margin, d)
	}
	return &LeaseTimer{duration: d, margin: margin, every: d / 3}, nil
}

// Renewal builds the RenewLease command for a renewal sent at now.
func (l *LeaseTimer) Renewal(holder string, term uint64, now time.Time, flushed lsn.LSN) RenewLease {
	return RenewLease{Holder: holder, Term: term, Now: now, Until: now.Add(l.duration), FlushedLSN: flushed}
}

// Renewed records that the state machine accepted r. A renewal older than
// the latest recorded one changes nothing.
func (l *LeaseTimer) Renewed(r RenewLease) {
	if r.Until.After(l.until) {
		l.until, l.sent = r.Until, r.Now
	}
}

// Revoke forgets the lease: writes stop at once. Call it on release, on
// losing the primary role, or on a renewal refused with ErrNotPrimary or
// ErrStaleTerm.
func (l *LeaseTimer) Revoke() { l.until, l.sent = time.Time{}, time.Time{} }

// Deadline is when writes must stop unless a renewal succeeds first; zero
// when no lease is held.
func (l *LeaseTimer) Deadline() time.Time {
	if l.until.IsZero() {
		return time.Time{}
	}
	return l.until.Add(-l.margin)
}

// MayWrite reports whether the primary may still accept a write at now: it
// holds a lease and now is before Deadline. The writer checks it before it
// makes a batch visible and acknowledges it, and fails pending commit
// waits once it turns false.
func (l *LeaseTimer) MayWrite(now time.Time) bool {
	return !l.until.IsZero() && now.Before(l.Deadline())
}

// NextRenew is when to send the next renewal, given when the last one was
// sent (accepted or not): a third of the duration after the latest
// accepted renewal, but no sooner than a twelfth of it after the last
// attempt, so a failing renewal is retried often without spinning. Zero
// (renew now) when no lease is held and nothing was tried.
func (l *LeaseTimer) NextRenew(lastAttempt time.Time) time.Time {
	if l.sent.IsZero() && lastAttempt.IsZero() {
		return time.Time{}
	}
	next := l.sent.Add(l.every)
	if retry := lastAttempt.Add(l.every / 4); l.sent.IsZero() || next.Before(retry) {
		next = retry
	}
	return next
}

// Duration is the lease duration.
func (l *LeaseTimer) Duration() time.Duration { return l.duration }

// Margin is how long before the lease ends writes stop.
func (l *LeaseTimer) Margin() time.Duration { return l.margin }
