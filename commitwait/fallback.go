package commitwait

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/lsn"
)

// Fallback mode degrades when a Wait times out: every pending Wait returns
// with Result.Degraded, and so does every later Wait that the watermark
// does not already cover. Each such Wait raises need, the LSN the quorum
// must acknowledge at its level; once every watermark reaches need, the
// quorum holds everything reported as committed since the degradation and
// synchronous commit resumes. The LSNs in between were acknowledged to
// clients without the quorum: a failover in that window can lose them.

// degrade switches to asynchronous commit. Call with mu held.
func (w *Waiter) degrade(reason string) {
	w.degraded, w.since, w.reason = true, w.now(), reason
	w.finishAll(func(wt *waiter) (Result, error) {
		w.need[wt.level] = max(w.need[wt.level], wt.at)
		return Result{Acked: w.acked[wt.level], Degraded: true}, nil
	})
	w.log.Warn("commitwait: synchronous commit degraded to async; commits are not confirmed by standbys until they catch up",
		"reason", reason, "config", w.cfg.String(), "timeout", w.timeout)
}

// maybeRecover ends a degradation once every watermark has reached what
// was waited for. Call with mu held.
func (w *Waiter) maybeRecover() {
	var parts []string
	for i := range nLevels {
		if w.need[i] == 0 {
			continue
		}
		if w.acked[i] < w.need[i] {
			return
		}
		parts = append(parts, fmt.Sprintf("%s acked %s (needed %s)", remoteLevels[i], w.acked[i], w.need[i]))
	}
	w.recover(fmt.Sprintf("quorum %s caught up: %s", w.cfg, strings.Join(parts, ", ")))
}

// recover ends a degradation. Call with mu held.
func (w *Waiter) recover(reason string) {
	was := w.since
	w.degraded, w.since, w.reason, w.need = false, w.now(), reason, [nLevels]lsn.LSN{}
	w.log.Info("commitwait: synchronous commit recovered", "reason", reason, "degraded_for", w.since.Sub(was))
}

// State is a snapshot of a Waiter, for status pages and tests.
type State struct {
	Config  Config
	Mode    Mode
	Timeout time.Duration
	// Degraded reports that Fallback mode is committing asynchronously.
	Degraded bool
	// Since is when Degraded last changed (or the Waiter was made).
	Since time.Time
	// Reason says why Degraded last changed; "" if it never has.
	Reason string
	// Acked holds the watermark of each level that waits on standbys.
	Acked map[command.CommitLevel]lsn.LSN
	// Standbys holds the connected standbys' positions.
	Standbys map[string]Positions
	// SyncStates holds each connected standby's sync state (StateSync, ...).
	SyncStates map[string]string
	// Waiting counts pending Waits.
	Waiting int
	// Closed reports that Close was called.
	Closed bool
}

// Waits says whether a replica-level commit begun now would wait for
// standbys: not with no sync standbys configured, nor while degraded,
// fenced or closed.
func (w *Waiter) Waits() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.closed && w.fence == nil && !w.cfg.Async() && !w.degraded
}

// State returns a snapshot of the Waiter.
func (w *Waiter) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := State{
		Config:     cloneConfig(w.cfg),
		Mode:       w.mode,
		Timeout:    w.timeout,
		Degraded:   w.degraded,
		Since:      w.since,
		Reason:     w.reason,
		Acked:      make(map[command.CommitLevel]lsn.LSN, nLevels),
		Standbys:   clonePositions(w.standbys),
		SyncStates: SyncStates(w.cfg, w.standbys),
		Closed:     w.closed,
	}
	for i, l := range remoteLevels {
		s.Acked[l] = w.acked[i]
		s.Waiting += w.queues[i].Len()
	}
	return s
}
