package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
)

// States of a stream, as SenderStats and ClientStatus report them.
const (
	StateConnecting = "connecting" // client: dialing or in the handshake
	StateSeeding    = "seeding"    // a seed is being prepared or sent
	StateCatchup    = "catchup"    // sending or receiving records behind the upstream's end
	StateStreaming  = "streaming"  // caught up, tailing the log
	StateStopped    = "stopped"    // the stream ended (server: see LastError; client: Run returned)
	StateBackoff    = "backoff"    // client: waiting to reconnect (see LastError)
)

// SenderStats describes one replica's stream on the server, like a row of
// pg_stat_replication.
type SenderStats struct {
	Replica        string     `json:"replica"`
	UUID           gtid.UUID  `json:"-"`
	Remote         string     `json:"remote"`
	State          string     `json:"state"`
	Compression    bool       `json:"compression"`
	SentLSN        lsn.LSN    `json:"sent_lsn"`
	LastAck        Ack        `json:"last_ack"`
	LastAckAt      time.Time  `json:"last_ack_at"`
	SeedBytes      int64      `json:"seed_bytes,omitempty"`
	SeedTotal      int64      `json:"seed_total,omitempty"`
	Sent           ByteCounts `json:"sent"`
	Received       ByteCounts `json:"received"`
	ConnectedSince time.Time  `json:"connected_since"`
	LastError      string     `json:"last_error,omitempty"`
}

// sender streams the log to one authenticated replica.
type sender struct {
	s       *Server
	c       *conn
	h       *Hello
	replica string
	remote  string
	ctx     context.Context
	cancel  context.CancelCauseFunc
	done    chan struct{} // closed when run has returned

	start   atomic.Uint64 // LSN where the session's records start; acks before it are stale
	sent    atomic.Uint64
	seeding atomic.Bool
	lastHB  time.Time // only the sending goroutine uses it
	async   bool      // no commit waits for this replica (as of the last heartbeat)
	buf     []byte

	mu sync.Mutex
	st SenderStats // the fields that are not atomics
}

func newSender(s *Server, c *conn, h *Hello, remote string, ctx context.Context, cancel context.CancelCauseFunc) *sender {
	sn := &sender{s: s, c: c, h: h, replica: h.NodeID, remote: remote, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	sn.st = SenderStats{Replica: h.NodeID, UUID: h.UUID, Remote: remote, State: StateCatchup, ConnectedSince: time.Now()}
	return sn
}

func (sn *sender) stats() SenderStats {
	sn.mu.Lock()
	st := sn.st
	sn.mu.Unlock()
	st.SentLSN = lsn.LSN(sn.sent.Load())
	st.Sent, st.Received = sn.c.bytes.sent(), sn.c.bytes.received()
	return st
}

func (sn *sender) update(f func(st *SenderStats)) {
	sn.mu.Lock()
	f(&sn.st)
	sn.mu.Unlock()
}

// run attaches the replica, welcomes it, seeds it if asked, and streams
// until the connection fails or the server closes.
func (sn *sender) run() (err error) {
	s, src, h := sn.s, sn.s.src, sn.h
	if err := s.register(sn); err != nil {
		return refuse(sn.c, asError(err))
	}
	defer func() { s.unregister(sn, err) }()
	if err := src.Attach(h); err != nil {
		return refuse(sn.c, asError(err))
	}
	defer func() { src.Detached(sn.replica, err) }()

	var rd *rlog.Reader
	if !h.Seed {
		if rd, err = src.NewReader(h.Start); err != nil {
			return refuse(sn.c, startError(err, h.Start, s.cfg.NodeID))
		}
		defer func() { _ = rd.Close() }()
		sn.start.Store(uint64(h.Start))
	}
	sn.sent.Store(sn.start.Load())
	sn.seeding.Store(h.Seed)
	zstdOn := s.cfg.Compression && h.Zstd
	w := &Welcome{Term: src.Term(), Start: lsn.LSN(sn.start.Load()), Zstd: zstdOn, End: src.Durable(), Heartbeat: s.cfg.Heartbeat, PrimaryHTTP: src.PrimaryHTTP()}
	w.MAC = welcomeMAC([]byte(s.cfg.Secret), h.Nonce, w)
	if err := sn.c.send(w); err != nil {
		return fmt.Errorf("send welcome: %w", err)
	}
	if err := sn.c.established(s.cfg.Timeout, zstdOn); err != nil {
		return err
	}
	sn.update(func(st *SenderStats) { st.Compression = zstdOn })
	sn.lastHB = time.Now()

	var wg sync.WaitGroup
	wg.Go(func() { sn.cancel(sn.readAcks()) })
	defer wg.Wait() // runs before Detached: no Acked after it
	defer sn.cancel(nil)

	if h.Seed {
		at, err := sn.seed()
		if err != nil {
			return sn.cause(err)
		}
		if rd, err = src.NewReader(at); err != nil {
			return refuse(sn.c, startError(err, at, s.cfg.NodeID))
		}
		defer func() { _ = rd.Close() }()
	}
	return sn.cause(sn.stream(rd))
}

// cause prefers the reason the connection was cancelled (an ack reader's
// error, Close, a replacement) over the write error it provoked.
func (sn *sender) cause(err error) error {
	if c := context.Cause(sn.ctx); c != nil && sn.ctx.Err() != nil {
		return c
	}
	return err
}

// stream sends batches of records as the log grows, and heartbeats.
func (sn *sender) stream(rd *rlog.Reader) error {
	src, hb := sn.s.src, sn.s.cfg.Heartbeat
	var pending *rlog.Record
	for {
		buf, count := sn.buf[:0], uint32(0)
		if pending != nil {
			buf, count, pending = rlog.AppendRecord(buf, pending), 1, nil
		}
		for len(buf) < sn.s.cfg.MaxBatchBytes {
			rec, err := rd.TryNext()
			if err == io.EOF {
				break
			}
			if err != nil {
				return sn.readError(err, rd.Position())
			}
			buf, count = rlog.AppendRecord(buf, rec), count+1
		}
		if cap(buf) <= maxKeptBuffer {
			sn.buf = buf
		}
		if count > 0 {
			end := rd.Position()
			// Published before the send: an ack can never be ahead of it.
			sn.sent.Store(uint64(end))
			state := StateCatchup
			if end >= src.Durable() {
				state = StateStreaming
			}
			sn.update(func(st *SenderStats) { st.State = state })
			if err := sn.c.send(&Records{Count: count, Data: buf}); err != nil {
				return fmt.Errorf("send records up to LSN %s: %w", end, err)
			}
			if time.Since(sn.lastHB) >= hb {
				if err := sn.heartbeat(); err != nil {
					return err
				}
			}
			continue
		}
		sn.update(func(st *SenderStats) { st.State = StateStreaming })
		if time.Since(sn.lastHB) >= hb {
			if err := sn.heartbeat(); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(sn.ctx, hb-time.Since(sn.lastHB))
		rec, err := rd.Next(ctx)
		cancel()
		switch {
		case err == nil:
			pending = rec
			if sn.async {
				// No commit waits for this replica: let a few more
				// records become durable and send them in one message.
				t := time.NewTimer(asyncSendDelay)
				select {
				case <-t.C:
				case <-sn.ctx.Done():
					t.Stop()
					return context.Cause(sn.ctx)
				}
			}
		case sn.ctx.Err() != nil:
			return context.Cause(sn.ctx)
		case errors.Is(err, context.DeadlineExceeded):
			// A heartbeat is due.
		default:
			return sn.readError(err, rd.Position())
		}
	}
}

// asyncSendDelay is how long the sender lets records gather before it
// sends them to an asynchronous replica.
const asyncSendDelay = 2 * time.Millisecond

func (sn *sender) heartbeat() error {
	src := sn.s.src
	sn.lastHB = time.Now()
	sync := src.Synchronous(sn.replica)
	sn.async = !sync
	if err := sn.c.send(&Heartbeat{Durable: src.Durable(), Time: sn.lastHB, Term: src.Term(), PrimaryHTTP: src.PrimaryHTTP(), Sync: sync, ApplySync: sync && src.ApplyWaits()}); err != nil {
		return fmt.Errorf("send heartbeat: %w", err)
	}
	return nil
}

// readAcks reads the replica's messages until the connection fails: Acks,
// or an Error that ends the stream. It hands each Ack to the Source.
func (sn *sender) readAcks() error {
	for {
		m, err := sn.c.recv()
		if err != nil {
			return fmt.Errorf("read ack: %w", err)
		}
		var a *Ack
		switch m := m.(type) {
		case *Ack:
			a = m
		case *Error:
			return fmt.Errorf("replica gave up: %w", m)
		default:
			return protocolErr("got %s from a replica, want Ack", m.Type())
		}
		if sn.seeding.Load() || a.Write < lsn.LSN(sn.start.Load()) {
			continue // a keepalive, or an ack that predates the seed
		}
		sent := lsn.LSN(sn.sent.Load())
		if a.Write > sent || a.Flush > a.Write || a.Apply > sent {
			return protocolErr("Ack write %s flush %s apply %s: beyond the %s sent, or flush beyond write", a.Write, a.Flush, a.Apply, sent)
		}
		sn.update(func(st *SenderStats) { st.LastAck, st.LastAckAt = *a, time.Now() })
		sn.s.src.Acked(sn.replica, *a)
	}
}

// asError turns a Source's refusal into the *Error to send; any other
// error becomes CodeUnavailable.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(CodeUnavailable, "upstream failed: %v; retrying", err)
}

// startError explains why streaming cannot start at an LSN.
func startError(err error, at lsn.LSN, node string) *Error {
	switch {
	case errors.Is(err, rlog.ErrCompacted):
		return Errorf(CodeStartNotAvailable, "the replica needs LSN %s, which node %s no longer has (%v): re-seed the replica", at, node, err)
	case errors.Is(err, rlog.ErrNotBoundary):
		return Errorf(CodeDiverged, "LSN %s, where the replica's log ends, is not a record boundary in node %s's log: the histories diverged; rewind or re-seed the replica", at, node)
	case errors.Is(err, rlog.ErrBeyondEnd):
		return Errorf(CodeUnavailable, "the replica is at LSN %s, ahead of node %s's log; retrying until it catches up (if it never does, the replica diverged: rewind or re-seed it)", at, node)
	}
	return asError(err)
}

// readError ends a stream whose log reader failed, telling the replica.
func (sn *sender) readError(err error, at lsn.LSN) error {
	node := sn.s.cfg.NodeID
	var e *Error
	switch {
	case errors.Is(err, rlog.ErrCompacted):
		e = Errorf(CodeSlotLost, "node %s removed the log at LSN %s before the replica consumed it (its slot was lost): re-seed the replica", node, at)
	case errors.Is(err, rlog.ErrRewound):
		e = Errorf(CodeDiverged, "node %s rewound its log behind LSN %s, which the replica already has: rewind or re-seed the replica", node, at)
	case errors.Is(err, rlog.ErrClosed):
		e = Errorf(CodeUnavailable, "node %s is shutting down; retrying", node)
	default:
		e = Errorf(CodeUnavailable, "node %s cannot read its log at LSN %s: %v; retrying", node, at, err)
	}
	_ = refuse(sn.c, e)
	return fmt.Errorf("read log at LSN %s: %w", at, err)
}
