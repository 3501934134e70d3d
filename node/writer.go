package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/commitwait"
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
		// Group commit: take whatever else is already waiting, and
		// whoever is about to come back.
		batch = n.gather(ctx, n.fill(batch))
		n.commitBatch(ctx, batch)
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

// commitBatch runs one group commit: the batch's statements in one SQLite
// transaction, their records appended to the log and fsynced, the standbys
// awaited where a request's level asks for them, and the commit.
//
// Under after_sync a batch stays invisible until the standbys acknowledge
// it, a round trip during which the writer would idle. Instead it chains:
// requests that arrive meanwhile run in the same SQLite transaction, their
// records appended and fsynced while the standbys acknowledge the earlier
// ones, and the chain commits once all its waits have ended. Nothing is
// visible before its acknowledgement, and the fsyncs of the primary and
// the standbys overlap instead of taking turns. A chain stops growing once
// the wait it is on has ended, or at maxChain batches.
func (n *Node) commitBatch(ctx context.Context, batch []*writeReq) {
	if !n.admit(batch) {
		return
	}
	w := n.db.Writer()
	if err := w.Begin(); err != nil {
		n.fail(err)
		n.failBatch(batch, fmt.Errorf("begin: %w", err))
		return
	}
	end, last, err := n.runBatch(batch, true)
	if err != nil {
		n.failBatch(batch, err)
		return
	}
	if end == 0 {
		// Nothing changed: no record, nothing to make durable.
		if err := w.Rollback(); err != nil {
			n.fail(err)
		}
		n.replyAll(batch, false)
		return
	}
	level := strongestLevel(batch)
	wait := level >= command.CommitRemoteWrite && !n.afterCommit
	all := batch
	if wait {
		// after_sync: the chain becomes visible only once the standbys
		// the levels need have it, so no reader sees what a failover
		// could lose.
		waits := []chainWait{{batch, n.waiter.Begin(level, end)}}
		all = append([]*writeReq(nil), batch...)
		all, end, last, err = n.chain(ctx, all, waits, end, last)
		if err != nil {
			n.failBatch(all, err)
			return
		}
	}
	if err := w.Commit(end, last); err != nil {
		// The records are durable and will be applied at the next start,
		// so the outcome is not a failure the client may retry blindly.
		w.Rollback()
		n.fail(err)
		n.failBatch(all, fmt.Errorf("SQLite commit failed after the log was made durable (the transaction will be applied when the node restarts): %w", err))
		return
	}
	n.committed(end)
	if level >= command.CommitRemoteWrite && !wait {
		// after_commit: visible now, acknowledged once the standbys have it.
		n.waitAndReply(batch, end)
	}
	if wait {
		// Set before the replies, which the clients' next requests follow.
		n.gathering = gatherState{returning: len(all), answered: time.Now()}
	}
	n.replyAll(all, false)
}

// maxChain is the most batches one after_sync chain takes (see commitBatch).
const maxChain = 16

// chainWait is a chained batch and its standbys' wait (nil if no request
// in it asked for a replica level).
type chainWait struct {
	batch []*writeReq
	p     *commitwait.Pending
}

// chain runs the after_sync wait of commitBatch, chaining the batches that
// arrive meanwhile into the open SQLite transaction. It returns every
// request of the chain and the end and last GTID to commit.
//
// A chained batch answers its commit=off requests with the chain, not
// after its append: what they read may rest on earlier batches that are
// still unacknowledged. When a chained batch fails, the SQLite
// transaction is rolled back and the node has failed; the earlier
// batches' records are durable and applied when the node restarts, which
// the error for their requests says.
func (n *Node) chain(ctx context.Context, all []*writeReq, waits []chainWait, end lsn.LSN, last gtid.GTID) ([]*writeReq, lsn.LSN, gtid.GTID, error) {
	current := waits[0].p
chaining:
	for batches := 1; batches < maxChain; {
		select {
		case <-current.Done():
			break chaining
		case <-ctx.Done():
			break chaining // the writer is stopping: finish what is open
		default:
		}
		select {
		case <-current.Done():
			break chaining
		case <-ctx.Done():
			break chaining
		case first := <-n.reqs:
			if !first.take() {
				continue
			}
			more := n.fill([]*writeReq{first})
			if !n.admit(more) {
				continue
			}
			batches++
			e, l, err := n.runBatch(more, false)
			if err != nil {
				n.failBatch(more, err)
				for _, cw := range waits {
					cw.p.Cancel()
				}
				return all, end, last, fmt.Errorf("the node failed after this transaction was made durable in the log, so it is committed and will be applied when the node restarts; the failure, in a later part of the same group commit: %w", err)
			}
			all = append(all, more...)
			if e == 0 {
				continue // nothing to make durable; answered with the chain
			}
			end, last = e, l
			if lv := strongestLevel(more); lv >= command.CommitRemoteWrite {
				current = n.waiter.Begin(lv, e)
				waits = append(waits, chainWait{more, current})
			}
		}
	}
	for _, cw := range waits {
		res, err := cw.p.Wait(n.ctx)
		n.noteSync(cw.batch, res, err)
	}
	return all, end, last, nil
}

// gatherState is what gather knows of the last commit that waited for
// standbys: how many requests it answered, and when.
type gatherState struct {
	returning int
	answered  time.Time
}

// gather holds a batch that will wait for standbys until the clients the
// previous such commit answered have come back, for at most
// GroupCommitWait. Those clients were released together by one commit and
// come back close together (100-300 µs apart on two shared cores); taking the
// first few alone would split them into batches that each pay an fsync on
// every node and a standby round trip, and the chain would end only after
// the last. A batch that will not wait for standbys never gathers (no
// request in it asks for a replica level, no sync standbys are configured,
// the waiter is degraded or fenced, or the sync point is after_commit):
// its clients come back staggered, and waiting only delays it. Nor does
// the writer gather once it is stopping.
func (n *Node) gather(ctx context.Context, batch []*writeReq) []*writeReq {
	g, wait := n.gathering, n.cfg.GroupCommitWait
	want := min(g.returning, n.cfg.MaxBatch)
	if wait == 0 || len(batch) >= want || n.afterCommit || time.Since(g.answered) > gatherFresh ||
		!asksStandbys(batch) || !n.waiter.Waits() {
		return batch
	}
	return collect(ctx, n.reqs, batch, want, wait, (*writeReq).take)
}

// asksStandbys says whether a request of a batch not yet run asks for a
// replica commit level (strongestLevel counts only requests that changed
// something, which is known after they ran).
func asksStandbys(batch []*writeReq) bool {
	for _, r := range batch {
		if r.req.Commit >= command.CommitRemoteWrite {
			return true
		}
	}
	return false
}

// gatherFresh is how recent the last answers must be for gather to expect
// their clients back: clients in a tight loop return within it, and a
// commit after a pause does not wait for clients that have gone quiet.
const gatherFresh = time.Millisecond

// fill adds to batch whatever requests are already queued (group commit),
// up to MaxBatch.
func (n *Node) fill(batch []*writeReq) []*writeReq {
	for len(batch) < n.cfg.MaxBatch {
		select {
		case r := <-n.reqs:
			if r.take() {
				batch = append(batch, r)
			}
		default:
			return batch
		}
	}
	return batch
}

// admit answers a batch at once, without running it, when the node has
// failed or holds no lease; it returns whether the batch may run.
func (n *Node) admit(batch []*writeReq) bool {
	err := n.failure()
	if err == nil && !n.mayWrite() {
		// No lease: run nothing (the check before each acknowledgement
		// covers a lease that runs out meanwhile).
		err = n.errNoLease()
	}
	if err == nil {
		return true
	}
	for _, r := range batch {
		r.reply(nil, err)
	}
	return false
}

// runBatch executes a batch in the open SQLite transaction, appends its
// records to the log, answers its commit=off requests if early is set,
// and fsyncs. It
// returns the end of its records and the last GTID, or a zero end if it
// changed nothing. On an error the SQLite transaction is rolled back, the
// node has failed and the error is for the batch's requests.
func (n *Node) runBatch(batch []*writeReq, early bool) (lsn.LSN, gtid.GTID, error) {
	w := n.db.Writer()
	seq := n.seq
	abort := func(err error) (lsn.LSN, gtid.GTID, error) {
		w.Rollback()
		n.seq = seq
		n.fail(err)
		return 0, gtid.GTID{}, err
	}
	var recs []*rlog.Record
	for _, r := range batch {
		r.rec = nil
		txn, err := w.Execute(r.ctx, r.req)
		if err != nil {
			return abort(err)
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
		return 0, gtid.GTID{}, nil
	}
	end, err := n.log.Append(recs...)
	if err != nil {
		return abort(fmt.Errorf("append to log: %w", err))
	}
	n.lastTerm.Store(recs[len(recs)-1].Term)
	if early && (n.afterCommit || strongestLevel(batch) < command.CommitRemoteWrite) {
		// commit=off: acknowledged once written, before the fsync. Not
		// when the batch waits for standbys under after_sync: what such
		// a request read may rest on a request before it in the batch.
		n.replyAll(batch, true)
	}
	start := time.Now()
	if err := n.log.Sync(); err != nil {
		return abort(fmt.Errorf("fsync log: %w", err))
	}
	n.stats.fsyncNanos.Add(uint64(time.Since(start)))
	// Standbys' lag counts from here, where the records became durable
	// (and may be streamed), not from the commit after their waits.
	n.lag.add(end, time.Now())
	n.stats.batches.Add(1)
	n.stats.transactions.Add(uint64(len(recs)))
	return end, recs[len(recs)-1].GTID, nil
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

func (n *Node) failBatch(batch []*writeReq, err error) {
	for _, r := range batch {
		if r.done != nil && !isClosed(r.done) {
			r.reply(nil, fmt.Errorf("%w: %v", ErrWriteFailed, err))
		}
	}
}

// replyAll answers the batch's requests: only the commit=off ones when
// early is set, every one not answered yet otherwise.
func (n *Node) replyAll(batch []*writeReq, early bool) {
	for _, r := range batch {
		if (early && r.req.Commit != command.CommitOff) || r.deferred || isClosed(r.done) {
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
