package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
)

// writeReq is a client transaction waiting for the writer.
type writeReq struct {
	ctx      context.Context
	req      *command.ExecuteRequest
	resp     *command.ExecuteResponse
	err      error
	done     chan struct{}
	rec      *rlog.Record
	syncErr  error // the standbys did not confirm it (strict mode timed out)
	deferred bool  // replied by an after_commit waiter, not by the writer
	// state is queued, taken (by a writer) or abandoned (by its caller);
	// whoever moves it from queued first decides the request's fate.
	state atomic.Int32
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// take claims a queued request for the writer; false if its caller gave up.
func (w *writeReq) take() bool { return w.state.CompareAndSwap(reqQueued, reqTaken) }

func (w *writeReq) reply(resp *command.ExecuteResponse, err error) {
	w.resp, w.err = resp, err
	close(w.done)
}

// writeStats counts the writer's work.
type writeStats struct {
	batches      atomic.Uint64
	transactions atomic.Uint64 // committed with a record
	requests     atomic.Uint64
	fsyncNanos   atomic.Uint64
}

// runWriter is the writer goroutine: it owns the SQLite writer connection
// and the log's append side, and commits queued requests in batches.
func (n *Node) runWriter(ctx context.Context, done chan struct{}) {
	defer close(done)
	batch := make([]*writeReq, 0, n.cfg.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			n.drain()
			return
		case first := <-n.reqs:
			if first.take() {
				batch = append(batch[:0], first)
			} else {
				continue
			}
		}
		// Group commit: take whatever else is already waiting.
	fill:
		for len(batch) < n.cfg.MaxBatch {
			select {
			case r := <-n.reqs:
				if r.take() {
					batch = append(batch, r)
				}
			default:
				break fill
			}
		}
		n.commitBatch(batch)
		clear(batch)
	}
}

// drain fails requests still queued when the writer stops (shutdown, or a
// switchover that makes this node a replica).
func (n *Node) drain() {
	err := n.drainErr()
	for {
		select {
		case r := <-n.reqs:
			if r.take() {
				r.reply(nil, err)
			}
		default:
			return
		}
	}
}

// startWriter starts the writer goroutine under its own context.
func (n *Node) startWriter() {
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan struct{})
	n.stopWriter = cancel
	n.writerDone.Store(&done)
	n.goFunc(func() { n.runWriter(ctx, done) })
}

// commitBatch runs one group commit.
func (n *Node) commitBatch(batch []*writeReq) {
	if err := n.failure(); err != nil {
		for _, r := range batch {
			r.reply(nil, err)
		}
		return
	}
	if !n.mayWrite() {
		// No lease: run nothing (the check after the commit covers a
		// lease that runs out meanwhile).
		err := n.errNoLease()
		for _, r := range batch {
			r.reply(nil, err)
		}
		return
	}
	w := n.db.Writer()
	if err := w.Begin(); err != nil {
		n.fail(err)
		n.failBatch(batch, fmt.Errorf("begin: %w", err))
		return
	}
	seq := n.seq
	var recs []*rlog.Record
	for _, r := range batch {
		r.rec = nil
		txn, err := w.Execute(r.ctx, r.req)
		if err != nil {
			w.Rollback()
			n.seq = seq
			n.fail(err)
			n.failBatch(batch, err)
			return
		}
		r.resp = &command.ExecuteResponse{Results: txn.Results}
		if txn.Payload == nil {
			continue
		}
		n.seq++
		r.rec = &rlog.Record{Term: n.term.Load(), GTID: gtid.GTID{Origin: n.id.UUID, Seq: n.seq}, HLC: n.clock.Now(),
			Kind: kindOf(txn.Rows, txn.Statements, txn.DDL), Payload: txn.Payload}
		recs = append(recs, r.rec)
	}
	if len(recs) == 0 {
		// Nothing changed: no record, nothing to make durable.
		if err := w.Rollback(); err != nil {
			n.fail(err)
		}
		n.replyAll(batch, false)
		return
	}
	end, err := n.log.Append(recs...)
	if err != nil {
		n.abortBatch(batch, seq, fmt.Errorf("append to log: %w", err))
		return
	}
	n.lastTerm.Store(recs[len(recs)-1].Term)
	n.replyAll(batch, true) // commit=off: acknowledged once written, before the fsync
	start := time.Now()
	if err := n.log.Sync(); err != nil {
		n.abortBatch(batch, seq, fmt.Errorf("fsync log: %w", err))
		return
	}
	n.stats.fsyncNanos.Add(uint64(time.Since(start)))
	last := recs[len(recs)-1].GTID
	level := strongestLevel(batch)
	wait := level >= command.CommitRemoteWrite && !n.afterCommit
	if wait {
		// after_sync: the batch becomes visible only once the standbys the
		// levels need have it, so no reader sees what a failover could lose.
		res, err := n.waiter.Wait(n.ctx, level, end)
		n.noteSync(batch, res, err)
	}
	if err := w.Commit(end, last); err != nil {
		// The records are durable and will be applied at the next start,
		// so the outcome is not a failure the client may retry blindly.
		w.Rollback()
		n.fail(err)
		n.failBatch(batch, fmt.Errorf("SQLite commit failed after the log was made durable (the transaction will be applied when the node restarts): %w", err))
		return
	}
	n.committed(end)
	if level >= command.CommitRemoteWrite && !wait {
		// after_commit: visible now, acknowledged once the standbys have it.
		n.waitAndReply(batch, end)
	}
	n.stats.batches.Add(1)
	n.stats.transactions.Add(uint64(len(recs)))
	n.replyAll(batch, false)
}

// trimLog removes log segments older than the retention window. Holds
// (replication slots, archivers) keep what they still need.
func (n *Node) trimLog(end lsn.LSN) {
	if uint64(end) <= uint64(n.cfg.LogRetainBytes) {
		return
	}
	removed, err := n.log.RemoveBefore(end - lsn.LSN(n.cfg.LogRetainBytes))
	if err != nil {
		n.logger.Warn("remove old log segments", "err", err)
		return
	}
	if len(removed) > 0 {
		n.logger.Info("removed old log segments", "segments", len(removed), "first_lsn", n.log.First().String())
	}
}

// abortBatch undoes a batch whose records could not be made durable.
func (n *Node) abortBatch(batch []*writeReq, seq uint64, err error) {
	n.db.Writer().Rollback()
	n.seq = seq
	n.fail(err)
	n.failBatch(batch, err)
}

func (n *Node) failBatch(batch []*writeReq, err error) {
	for _, r := range batch {
		if r.done != nil && !isClosed(r.done) {
			r.reply(nil, fmt.Errorf("%w: %v", ErrWriteFailed, err))
		}
	}
}

// replyAll answers the batch's requests: only the commit=off ones when
// early is set, the rest otherwise.
func (n *Node) replyAll(batch []*writeReq, early bool) {
	for _, r := range batch {
		if (r.req.Commit == command.CommitOff) != early || r.deferred || isClosed(r.done) {
			continue
		}
		n.replyOne(r)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func kindOf(rows, statements, ddl bool) rlog.Kind {
	switch {
	case ddl:
		return rlog.KindDDL
	case rows && statements:
		return rlog.KindMixed
	case statements:
		return rlog.KindStatement
	default:
		return rlog.KindRow
	}
}

// Execute queues a write request and waits for its commit.
func (n *Node) Execute(ctx context.Context, req *command.ExecuteRequest) (*command.ExecuteResponse, error) {
	if n.isReplica() {
		return n.forwardExecute(ctx, req)
	}
	if err := n.failure(); err != nil {
		return nil, err
	}
	if n.fenced.Load() {
		return nil, errSwitchover
	}
	if !n.mayWrite() {
		return nil, n.errNoLease()
	}
	if req.Commit == command.CommitRemoteApply {
		n.lastRemoteApply.Store(time.Now().UnixNano())
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.WriteTimeout)
	defer cancel()
	r := &writeReq{ctx: ctx, req: req, done: make(chan struct{})}
	select {
	case n.reqs <- r:
	case <-n.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("write queue full (%d waiting): %w", len(n.reqs), ctx.Err())
	}
	select {
	case <-r.done:
		return r.resp, r.err
	case <-*n.writerDone.Load():
		// The writer stopped. A request it took gets its answer; one still
		// queued is abandoned here, so no later writer runs it.
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return nil, n.drainErr()
		}
		<-r.done
		return r.resp, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for commit: %w; the transaction may still commit", ctx.Err())
	}
}

// AppliedLSN returns how far this node's database has applied the log:
// on a primary the end of the last batch visible to reads.
func (n *Node) AppliedLSN() lsn.LSN { return n.appliedLSN() }
