package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/sqlitedb"
	"zombiezen.com/go/sqlite"
)

// applyBatchMax is the most records one replica apply transaction takes.
const applyBatchMax = 512

// applyLinger is how long the applier waits for more records before it
// applies a small batch, when no commit waits for this replica to apply
// (the upstream says so): each apply is a SQLite transaction with a fixed
// cost.
const applyLinger = 5 * time.Millisecond

// applier replays the local log into SQLite on a replica. A prefetch
// goroutine reads and decodes records ahead of it, so reading the log and
// applying overlap.
type applier struct {
	n     *Node
	delay time.Duration

	mu       sync.Mutex
	applied  lsn.LSN
	lastHLC  time.Time // commit time (at the origin) of the last applied record
	lastAt   time.Time // when it was applied here
	stopped  *sqlitedb.ApplyError
	retrying *sqlitedb.ApplyError // the last transient failure, cleared by progress
	skips    []gtid.GTID
	changed  chan struct{} // closed and replaced when applied or stopped changes
	skipWake chan struct{}
	// pending holds the end LSN and commit time of records read ahead but
	// not applied yet, oldest first: the lag is the age of pending[0].
	pending []pendingRec
}

type pendingRec struct {
	end lsn.LSN
	at  time.Time
}

// oldestPending returns the commit time of the oldest record this replica
// has received but not applied.
func (a *applier) oldestPending() (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) == 0 {
		return time.Time{}, false
	}
	return a.pending[0].at, true
}

func newApplier(n *Node, applied lsn.LSN, delay time.Duration) *applier {
	return &applier{n: n, delay: delay, applied: applied, changed: make(chan struct{}), skipWake: make(chan struct{}, 1)}
}

// position returns the applied LSN and a channel closed when it changes.
func (a *applier) position() (lsn.LSN, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied, a.changed
}

func (a *applier) publish(applied lsn.LSN, hlcTime time.Time) {
	a.mu.Lock()
	a.applied = applied
	a.retrying = nil
	i := 0
	for i < len(a.pending) && a.pending[i].end <= applied {
		i++
	}
	a.pending = append(a.pending[:0], a.pending[i:]...)
	if !hlcTime.IsZero() {
		a.lastHLC = hlcTime
	}
	a.lastAt = time.Now()
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// waitApplied blocks until the applied LSN reaches at, or ctx ends.
func (a *applier) waitApplied(ctx context.Context, at lsn.LSN) error {
	for {
		pos, ch := a.position()
		if pos >= at {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("LSN %s not applied here yet (applied %s): %w", at, pos, ctx.Err())
		}
	}
}

// skip asks the applier to skip the stopped transaction g. It fails unless
// the applier is stopped on exactly that transaction.
func (a *applier) skip(g gtid.GTID) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped == nil {
		return fmt.Errorf("the applier is not stopped; nothing to skip")
	}
	if a.stopped.GTID != g {
		return fmt.Errorf("the applier is stopped on %s, not %s; skip exactly the transaction that failed", a.stopped.GTID, g)
	}
	a.skips = append(a.skips, g)
	select {
	case a.skipWake <- struct{}{}:
	default:
	}
	return nil
}

// run applies records until ctx ends.
func (a *applier) run(ctx context.Context) {
	recs := make(chan *rlog.Record, 2*applyBatchMax)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(recs)
		a.prefetch(ctx, recs)
	}()
	defer wg.Wait()
	batch := make([]*rlog.Record, 0, applyBatchMax)
	for {
		var rec *rlog.Record
		select {
		case <-ctx.Done():
			return
		case r, ok := <-recs:
			if !ok {
				return
			}
			rec = r
		}
		batch = append(batch[:0], rec)
	fill:
		for len(batch) < applyBatchMax {
			select {
			case r, ok := <-recs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if c := a.n.streamClient(); len(batch) < applyBatchMax && c != nil && !c.Status().ApplySync {
			batch = a.linger(ctx, recs, batch)
		}
		if !a.applyDelayed(ctx, batch) {
			return
		}
	}
}

// linger adds the records that arrive within applyLinger to batch.
func (a *applier) linger(ctx context.Context, recs <-chan *rlog.Record, batch []*rlog.Record) []*rlog.Record {
	return collect(ctx, recs, batch, applyBatchMax, applyLinger, nil)
}

// prefetch reads the local log from the applied position, ahead of apply.
func (a *applier) prefetch(ctx context.Context, out chan<- *rlog.Record) {
	from, _ := a.position()
	r, err := a.n.log.NewReader(from)
	if err != nil {
		a.fail(&sqlitedb.ApplyError{LSN: from, Err: fmt.Errorf("read local log: %w", err)})
		return
	}
	defer r.Close()
	for {
		rec, err := r.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, rlog.ErrClosed) {
				a.fail(&sqlitedb.ApplyError{LSN: r.Position(), Err: fmt.Errorf("read local log: %w", err)})
			}
			return
		}
		a.mu.Lock()
		a.pending = append(a.pending, pendingRec{rec.End(), rec.HLC.Time()})
		a.mu.Unlock()
		select {
		case out <- rec:
		case <-ctx.Done():
			return
		}
	}
}

// applyDelayed applies batch, honouring the apply delay: records become
// visible only delay after their commit at the origin.
func (a *applier) applyDelayed(ctx context.Context, batch []*rlog.Record) bool {
	for len(batch) > 0 {
		n := len(batch)
		if a.delay > 0 {
			due := batch[0].HLC.Time().Add(a.delay)
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return false
				case <-t.C:
				}
			}
			// Apply only the prefix that is due now.
			now := time.Now()
			n = 0
			for n < len(batch) && !batch[n].HLC.Time().Add(a.delay).After(now) {
				n++
			}
			n = max(n, 1)
		}
		if !a.apply(ctx, batch[:n]) {
			return false
		}
		batch = batch[n:]
	}
	return true
}

// apply applies records; on an apply error it stops until the operator
// skips the failing transaction, then goes on after it.
func (a *applier) apply(ctx context.Context, batch []*rlog.Record) bool {
	w := a.n.db.Writer()
	for len(batch) > 0 {
		txns := make([]sqlitedb.ApplyTxn, len(batch))
		for i, r := range batch {
			txns[i] = sqlitedb.ApplyTxn{End: r.End(), GTID: r.GTID, Payload: r.Payload}
		}
		err := w.Apply(txns)
		if err == nil {
			a.applied1(batch[len(batch)-1])
			return true
		}
		ae := asApplyError(err, txns[0])
		i := 0
		for i < len(txns) && txns[i].GTID != ae.GTID {
			i++
		}
		if i > 0 && i < len(txns) {
			// Everything before the failing transaction applies on its own.
			if !a.apply(ctx, batch[:i]) {
				return false
			}
			batch = batch[i:]
			continue
		}
		if i == len(txns) {
			ae.GTID, ae.LSN = txns[0].GTID, txns[0].End
		}
		if transient(err) {
			// A full disk or an I/O error is not about this transaction:
			// retry it, showing the error, rather than ask for a skip.
			if !a.retryLater(ctx, ae) {
				return false
			}
			continue
		}
		a.fail(ae)
		if !a.waitSkip(ctx, txns[0].GTID) || !a.skipOne(txns[0]) {
			return false
		}
		a.applied1(batch[0])
		batch = batch[1:]
	}
	return true
}

func (a *applier) applied1(r *rlog.Record) {
	a.publish(r.End(), r.HLC.Time())
	a.n.appliedHook()
}

// transientRetry is how long the applier waits before retrying a batch
// that failed for a reason outside the data (full disk, I/O error).
const transientRetry = time.Second

// transient reports an apply error that is about the machine, not the
// transaction: retrying may succeed once the operator frees space.
func transient(err error) bool {
	switch sqlite.ErrCode(err).ToPrimary() {
	case sqlite.ResultFull, sqlite.ResultIOErr, sqlite.ResultBusy, sqlite.ResultLocked, sqlite.ResultNoMem, sqlite.ResultCantOpen:
		return true
	}
	return false
}

// retryLater shows a transient apply error in status and waits before the
// applier retries; false when ctx ended.
func (a *applier) retryLater(ctx context.Context, ae *sqlitedb.ApplyError) bool {
	a.mu.Lock()
	a.retrying = ae
	a.mu.Unlock()
	a.n.logger.Error("replica apply failed for a reason outside the data; retrying", "lsn", ae.LSN.String(), "gtid", ae.GTID.String(), "err", ae.Err)
	t := time.NewTimer(transientRetry)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func asApplyError(err error, t sqlitedb.ApplyTxn) *sqlitedb.ApplyError {
	var ae *sqlitedb.ApplyError
	if errors.As(err, &ae) {
		return ae
	}
	return &sqlitedb.ApplyError{LSN: t.End, GTID: t.GTID, Err: err}
}

func (a *applier) fail(ae *sqlitedb.ApplyError) {
	a.mu.Lock()
	a.stopped = ae
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
	a.n.logger.Error("replica apply stopped; fix the cause, or skip the transaction with `tandem replica skip --gtid`",
		"lsn", ae.LSN.String(), "gtid", ae.GTID.String(), "table", ae.Table, "err", ae.Err)
}

// waitSkip blocks until the operator skips g.
func (a *applier) waitSkip(ctx context.Context, g gtid.GTID) bool {
	for {
		a.mu.Lock()
		for i, s := range a.skips {
			if s == g {
				a.skips = append(a.skips[:i], a.skips[i+1:]...)
				a.stopped = nil
				a.mu.Unlock()
				return true
			}
		}
		a.mu.Unlock()
		select {
		case <-a.skipWake:
		case <-ctx.Done():
			return false
		}
	}
}

func (a *applier) skipOne(t sqlitedb.ApplyTxn) bool {
	if err := a.n.db.Writer().Skip(t.End, t.GTID); err != nil {
		a.fail(asApplyError(err, t))
		return false
	}
	a.n.logger.Warn("skipped transaction on operator request; this replica no longer holds it", "gtid", t.GTID.String(), "lsn", t.End.String())
	return true
}

// applyStatus is the applier's part of a replica's status.
type applyStatus struct {
	Applied       lsn.LSN   `json:"apply_lsn"`
	LastCommitAt  time.Time `json:"last_applied_commit_time,omitempty"`
	LastAppliedAt time.Time `json:"last_applied_at,omitempty"`
	Delay         string    `json:"apply_delay"`
	Stopped       bool      `json:"apply_stopped"`
	Error         string    `json:"apply_error,omitempty"`
	ErrorGTID     string    `json:"apply_error_gtid,omitempty"`
	ErrorLSN      string    `json:"apply_error_lsn,omitempty"`
	ErrorTable    string    `json:"apply_error_table,omitempty"`
}

func (a *applier) status() applyStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := applyStatus{Applied: a.applied, LastCommitAt: a.lastHLC, LastAppliedAt: a.lastAt, Delay: a.delay.String()}
	if a.retrying != nil {
		s.Error = "retrying: " + a.retrying.Error()
		s.ErrorGTID, s.ErrorLSN, s.ErrorTable = a.retrying.GTID.String(), a.retrying.LSN.String(), a.retrying.Table
	}
	if a.stopped != nil {
		s.Stopped, s.Error = true, a.stopped.Error()
		s.ErrorGTID, s.ErrorLSN, s.ErrorTable = a.stopped.GTID.String(), a.stopped.LSN.String(), a.stopped.Table
	}
	return s
}
