package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

// maxUnsynced is how many received bytes may be appended before the
// receiver syncs even though more data is already waiting.
const maxUnsynced = 8 << 20

// applyAckDelay is how long a replica whose apply no commit waits for may
// hold back an apply position before acking it; a flush ack sent meanwhile
// carries it anyway. Acking every apply at once costs a message per batch.
const applyAckDelay = 10 * time.Millisecond

// asyncSyncDelay is how long an asynchronous replica lets received records
// wait for their fsync, so that one fsync covers many upstream batches.
// No commit waits on such a replica, so only its lag grows, by this much.
const asyncSyncDelay = 5 * time.Millisecond

// receiver is one connection of a Client: after the handshake it installs
// a seed if one comes, then appends records, syncs, and acks.
type receiver struct {
	cl        *Client
	c         *conn
	keepalive time.Duration // the upstream's heartbeat: ack at least this often
	pos       lsn.LSN       // LSN the next record must have
	lastTerm  uint64        // term of the last record received
	upDurable lsn.LSN       // upstream's durable end, as last heard
	unsynced  int
	progress  bool // records arrived, or a seed was installed

	seeding          atomic.Bool
	written, flushed atomic.Uint64
	flushKick        chan struct{}
	// async is set while the upstream says no commit waits for this
	// replica; syncs then go through syncKick to the delayed syncer.
	async    atomic.Bool
	syncKick chan struct{}
	// applyAsync is set while the upstream says no commit waits for this
	// replica's apply: apply positions are then acked within
	// applyAckDelay instead of at once, mostly riding on flush acks.
	applyAsync atomic.Bool

	ackMu     sync.Mutex // orders acks from the receive and ack goroutines
	lastAck   Ack
	lastAckAt time.Time
}

// session runs one connection until it fails or ctx ends. progressed says
// whether it got anywhere, which resets the backoff.
func (cl *Client) session(ctx context.Context) (progressed bool, err error) {
	cl.update(func(st *ClientStatus) { st.State, st.Connected = StateConnecting, false })
	d := net.Dialer{Timeout: handshakeTimeout}
	if cl.cfg.SourceAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(cl.cfg.SourceAddr)}
	}
	nc, err := d.DialContext(ctx, "tcp", cl.cfg.Upstream)
	if err != nil {
		return false, fmt.Errorf("connect to upstream %s: %w", cl.cfg.Upstream, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	c := newConn(nc, handshakeTimeout)
	c.bytes = &cl.bytes
	defer c.close()

	h, w, err := cl.handshake(c)
	if err != nil {
		return false, cl.tellUpstream(c, err)
	}
	timeout := cl.cfg.Timeout
	if timeout == 0 {
		timeout = 3 * max(w.Heartbeat, time.Millisecond)
	}
	if err := c.established(timeout, w.Zstd); err != nil {
		return false, err
	}
	r := &receiver{cl: cl, c: c, keepalive: max(w.Heartbeat, time.Millisecond), pos: w.Start, upDurable: w.End,
		flushKick: make(chan struct{}, 1), syncKick: make(chan struct{}, 1)}
	r.seeding.Store(h.Seed)
	r.written.Store(uint64(w.Start))
	r.flushed.Store(uint64(w.Start))
	cl.update(func(st *ClientStatus) {
		st.Connected, st.Compression, st.Connects = true, w.Zstd, st.Connects+1
		st.State = StateCatchup
		if h.Seed {
			st.State = StateSeeding
		} else {
			st.ReceivedLSN, st.WrittenLSN, st.FlushedLSN = w.Start, w.Start, w.Start
		}
		st.PrimaryLSN, st.PrimaryHTTP = w.End, w.PrimaryHTTP
	})
	cl.log.Info("stream: connected to upstream", "start", w.Start, "seed", h.Seed, "term", w.Term, "upstream_end", w.End, "compression", w.Zstd)

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	wg.Go(func() { cancel(r.sendAcks(ctx)) })
	wg.Go(func() { cancel(r.delayedSyncs(ctx)) })

	if h.Seed {
		if err := r.installSeed(); err != nil {
			return false, cl.tellUpstream(c, cause(ctx, err))
		}
	}
	err = r.receive()
	return r.progress, cl.tellUpstream(c, cause(ctx, err))
}

// cause prefers the reason ctx was cancelled (the ack writer failed, Run
// is stopping) over the read error the cancellation provoked.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && ctx.Err() != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// tellUpstream sends the upstream an Error for a refusal or a protocol
// violation this client detected, so that its log says why the replica
// left, before the connection closes. It returns err.
func (cl *Client) tellUpstream(c *conn, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e) && err == error(e): // ours, not the upstream's
	case errors.Is(err, ErrProtocol):
		e = Errorf(CodeBadRequest, "replica %s: %v", cl.cfg.NodeID, err)
	default:
		return err
	}
	_ = refuse(c, e)
	return err
}

// next returns the next message other than a Heartbeat, which it handles.
// An Error from the upstream ends the stream.
func (r *receiver) next() (Message, error) {
	for {
		// Group commit on the replica: sync once no more data is already
		// buffered, rather than after every batch.
		if r.unsynced > 0 && !r.c.buffered() {
			if r.async.Load() {
				r.unsynced = 0
				select {
				case r.syncKick <- struct{}{}:
				default:
				}
			} else if err := r.sync(); err != nil {
				return nil, err
			}
		}
		m, err := r.c.recv()
		if err != nil {
			return nil, err
		}
		r.cl.update(func(st *ClientStatus) { st.LastMessage = time.Now() })
		switch m := m.(type) {
		case *Heartbeat:
			if err := r.heartbeat(m); err != nil {
				return nil, err
			}
			continue
		case *Error:
			return nil, fmt.Errorf("upstream %s refused: %w", r.cl.cfg.Upstream, m)
		}
		return m, nil
	}
}

func (r *receiver) heartbeat(m *Heartbeat) error {
	if err := r.cl.observeTerm(m.Term, "Heartbeat"); err != nil {
		return err
	}
	r.upDurable = m.Durable
	r.async.Store(!m.Sync)
	r.applyAsync.Store(!m.ApplySync)
	r.cl.update(func(st *ClientStatus) {
		st.Synchronous, st.ApplySync = m.Sync, m.ApplySync
		st.PrimaryLSN, st.PrimaryTime = m.Durable, m.Time
		if m.PrimaryHTTP != "" {
			st.PrimaryHTTP = m.PrimaryHTTP
		}
		if !r.seeding.Load() {
			st.State = r.state()
		}
	})
	return nil
}

func (r *receiver) state() string {
	if r.pos >= r.upDurable {
		return StateStreaming
	}
	return StateCatchup
}

// installSeed receives a seed into the Sink.
func (r *receiver) installSeed() error {
	m, err := r.next()
	if err != nil {
		return err
	}
	ss, ok := m.(*SeedStart)
	if !ok {
		return protocolErr("got %s, want SeedStart after asking for a seed", m.Type())
	}
	r.cl.seedBegin(ss.Size, ss.LSN)
	sr := newSeedReader(r, ss.Size)
	if err := r.cl.sink.InstallSeed(sr, ss.Size, ss.LSN); err != nil {
		if sr.err != nil {
			return fmt.Errorf("receive seed: %w", sr.err)
		}
		return fmt.Errorf("install seed at LSN %s: %w", ss.LSN, err)
	}
	if !sr.complete() {
		return fmt.Errorf("install seed at LSN %s: the sink took %d of %d bytes before installing; it must read the seed to EOF", ss.LSN, sr.given, ss.Size)
	}
	r.pos = ss.LSN
	r.written.Store(uint64(ss.LSN))
	r.flushed.Store(uint64(ss.LSN))
	r.seeding.Store(false)
	r.progress = true
	r.cl.seedDone()
	r.cl.update(func(st *ClientStatus) {
		st.ReceivedLSN, st.WrittenLSN, st.FlushedLSN, st.State = ss.LSN, ss.LSN, ss.LSN, r.state()
	})
	r.kickAck()
	return nil
}

// receive appends Records until the connection fails.
func (r *receiver) receive() error {
	for {
		m, err := r.next()
		if err != nil {
			return err
		}
		recs, ok := m.(*Records)
		if !ok {
			return protocolErr("got %s while streaming, want Records or Heartbeat", m.Type())
		}
		if err := r.records(recs); err != nil {
			return err
		}
	}
}

// records checks a batch whole, then appends it. next syncs once no more
// data is waiting; records syncs when much is unsynced.
func (r *receiver) records(m *Records) error {
	recs, err := m.Decode()
	if err != nil {
		return err
	}
	if first := recs[0].LSN; first != r.pos {
		return protocolErr("Records start at LSN %s, want %s where this replica's log ends", first, r.pos)
	}
	term := r.lastTerm
	for _, rec := range recs {
		if rec.Term < term {
			return protocolErr("record at LSN %s has term %d after a record of term %d", rec.LSN, rec.Term, term)
		}
		term = rec.Term
	}
	end := recs[len(recs)-1].End()
	if term > r.cl.sink.HighestTerm() {
		if err := r.cl.sink.ObserveTerm(term); err != nil {
			return Errorf(CodeTermTooLow, "records up to LSN %s carry term %d, which this node refuses: %v", end, term, err)
		}
	}
	// Records up to end are durable upstream: its end is at least there,
	// whatever its last heartbeat said.
	r.cl.update(func(st *ClientStatus) { st.ReceivedLSN, st.PrimaryLSN = end, max(st.PrimaryLSN, end) })
	if err := r.cl.sink.Append(recs); err != nil {
		return fmt.Errorf("append records %s..%s to the local log: %w", r.pos, end, err)
	}
	r.lastTerm, r.pos, r.progress = term, end, true
	r.upDurable = max(r.upDurable, end)
	r.written.Store(uint64(end))
	r.unsynced += len(m.Data)
	r.cl.update(func(st *ClientStatus) { st.WrittenLSN, st.State = end, r.state() })
	if r.unsynced >= maxUnsynced {
		return r.sync()
	}
	return nil
}

// sync makes the appended records durable and acks.
func (r *receiver) sync() error {
	flushed, err := r.cl.sink.Sync()
	if err != nil {
		return fmt.Errorf("sync the local log at LSN %s: %w", r.pos, err)
	}
	r.unsynced = 0
	r.flushedTo(flushed)
	// Ack the flush from here: a commit on the primary may be waiting for
	// it, and waking the ack goroutine would add a hand-off.
	return r.ack(false)
}

// flushedTo records a flush position (syncs may finish out of order) and
// acks it.
func (r *receiver) flushedTo(flushed lsn.LSN) {
	for {
		old := r.flushed.Load()
		if uint64(flushed) <= old {
			return
		}
		if r.flushed.CompareAndSwap(old, uint64(flushed)) {
			break
		}
	}
	r.cl.update(func(st *ClientStatus) { st.FlushedLSN = max(st.FlushedLSN, flushed) })
}

// delayedSyncs is the asynchronous replica's syncer: asked to sync, it
// waits asyncSyncDelay so that records that arrive meanwhile share the
// fsync, then syncs and acks. When the connection ends it still syncs what
// was received: otherwise a tail written to the log stays volatile, and
// unapplied, until more records arrive (a promotion, or an upstream that
// went quiet, may never send any).
func (r *receiver) delayedSyncs(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	t.Stop()
	final := func() error {
		if r.written.Load() <= r.flushed.Load() {
			return nil // nothing unsynced (or still seeding: no log yet)
		}
		if _, err := r.cl.sink.Sync(); err != nil {
			return fmt.Errorf("sync the local log: %w", err)
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			// Records may have been written without a sync requested yet
			// (a connection cut mid-message): sync whatever is there.
			return final()
		case <-r.syncKick:
		}
		t.Reset(asyncSyncDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return final()
		case <-t.C:
		}
		flushed, err := r.cl.sink.Sync()
		if err != nil {
			return fmt.Errorf("sync the local log: %w", err)
		}
		r.flushedTo(flushed)
		r.kickAck()
	}
}

func (r *receiver) kickAck() {
	select {
	case r.flushKick <- struct{}{}:
	default:
	}
}

// sendAcks acks every AckInterval when a position moved, at once after a
// delayed flush or NotifyApplied (within applyAckDelay when no commit
// waits for this replica's apply), and at least every upstream heartbeat
// interval as a keepalive. While a seed is coming it sends zero
// keepalives, which the server ignores. (A synchronous replica's flush is
// acked inline by sync, without waking this goroutine.)
func (r *receiver) sendAcks(ctx context.Context) error {
	t := time.NewTicker(min(r.cl.cfg.AckInterval, r.keepalive))
	defer t.Stop()
	held := time.NewTimer(time.Hour) // a held-back apply ack
	held.Stop()
	defer held.Stop()
	holding, send := false, true
	for first := true; ; first = false {
		if send {
			r.ackMu.Lock()
			due := first || time.Since(r.lastAckAt) >= r.keepalive
			r.ackMu.Unlock()
			if err := r.ack(due); err != nil {
				return err
			}
		}
		send = true
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.flushKick:
		case <-held.C:
			holding = false
		case <-r.cl.kick:
			if r.applyAsync.Load() {
				if !holding {
					holding = true
					held.Reset(applyAckDelay)
				}
				send = false
			}
		}
	}
}

// ack sends the current positions, unless they are what was last sent and
// force is false. Acks go out in order, each at least as far as the last.
func (r *receiver) ack(force bool) error {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	a := Ack{Time: time.Now()}
	if !r.seeding.Load() {
		a.Write, a.Flush, a.Apply = lsn.LSN(r.written.Load()), lsn.LSN(r.flushed.Load()), r.cl.sink.Applied()
		a.Write, a.Flush, a.Apply = max(a.Write, r.lastAck.Write), max(a.Flush, r.lastAck.Flush), max(a.Apply, r.lastAck.Apply)
	}
	if !force && a.Write == r.lastAck.Write && a.Flush == r.lastAck.Flush && a.Apply == r.lastAck.Apply {
		return nil
	}
	if err := r.c.send(&a); err != nil {
		return fmt.Errorf("send ack: %w", err)
	}
	r.lastAck, r.lastAckAt = a, a.Time
	return nil
}
