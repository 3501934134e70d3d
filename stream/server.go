package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
)

// Source is what a Server needs from its node (a primary, or a replica
// that cascades): the log to stream and the hooks that keep slots and
// commit waits. The server calls it from many goroutines at once.
type Source interface {
	// Term returns the node's current term.
	Term() uint64
	// Durable returns the LSN up to which the log is durable.
	Durable() lsn.LSN
	// NewReader returns a reader of the log from an LSN; it must only
	// return durable records (rlog.Reader does).
	NewReader(from lsn.LSN) (*rlog.Reader, error)
	// Attach is called once a replica has authenticated, before anything
	// is streamed to it; it returns an *Error to refuse it (for example
	// CodeSlotLost). A replica that asks to start at an LSN starts there
	// (its log must continue exactly); one that asks for a seed starts at
	// the LSN Seed returns, so Attach must already protect the log from
	// that point on: Seed is called after it.
	Attach(h *Hello) error
	// Seed takes a consistent copy of the database for a replica that has
	// none. The server sends Snapshot.Size bytes of it and closes it.
	Seed(ctx context.Context) (*Snapshot, error)
	// Acked receives every Ack of an attached replica, in order.
	Acked(replica string, a Ack)
	// Detached is called once for each successful Attach, when that
	// stream ends, with the reason; no Acked call follows.
	Detached(replica string, err error)
	// PrimaryHTTP is the client API address of the cluster's primary,
	// sent to replicas so they can forward writes; "" when unknown.
	PrimaryHTTP() string
	// Synchronous reports whether commits may wait for this replica's
	// acks (it is named, or matched, in the synchronous standby list).
	Synchronous(replica string) bool
	// ApplyWaits reports whether commits wait for standbys to apply
	// (remote_apply has been used lately).
	ApplyWaits() bool
}

// Snapshot is a consistent copy of the database, as Source.Seed returns
// it: exactly Size bytes that match the log at LSN.
type Snapshot struct {
	Reader io.ReadCloser
	Size   int64
	LSN    lsn.LSN
}

// Server accepts replicas' connections and streams the log to each, one
// sender per connection. Create it with NewServer, then Start and Close.
type Server struct {
	cfg ServerConfig
	src Source
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	ln      net.Listener
	closed  bool
	active  map[string]*sender     // attached senders by replica ID
	stopped map[string]SenderStats // how each replica's last stream ended
}

// NewServer checks the configuration and returns a server that is not yet
// listening.
func NewServer(cfg ServerConfig, src Source) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("stream: NewServer: nil Source")
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Server{
		cfg: cfg, src: src, log: cfg.Logger, ctx: ctx, cancel: cancel,
		active: make(map[string]*sender), stopped: make(map[string]SenderStats),
	}, nil
}

// Start listens on the configured address and accepts replicas in the
// background until Close.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.ln != nil {
		return errors.New("stream: server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("stream: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.wg.Go(func() { s.accept(ln) })
	s.log.Info("stream: listening for replicas", "addr", ln.Addr().String(), "compression", s.cfg.Compression)
	return nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting, ends every stream and waits for all of the
// server's goroutines. Closing twice is a no-op.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	s.mu.Unlock()
	s.cancel(ErrClosed)
	var err error
	if ln != nil {
		err = ln.Close()
	}
	s.wg.Wait()
	return err
}

// accept runs until the listener closes.
func (s *Server) accept(ln net.Listener) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, then retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("stream: accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		s.wg.Go(func() { s.serve(nc) })
	}
}

// Stats describes every attached replica's stream, and how the last stream
// of each replica that is no longer attached ended, sorted by replica ID.
func (s *Server) Stats() []SenderStats {
	s.mu.Lock()
	out := make([]SenderStats, 0, len(s.active)+len(s.stopped))
	for _, sn := range s.active {
		out = append(out, sn.stats())
	}
	for id, st := range s.stopped {
		if s.active[id] == nil {
			out = append(out, st)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b SenderStats) int { return strings.Compare(a.Replica, b.Replica) })
	return out
}

// register makes sn the attached sender of its replica, first ending a
// stream the same replica still has: the newer connection is the live one.
func (s *Server) register(sn *sender) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Errorf(CodeUnavailable, "node %s is shutting down; retrying", s.cfg.NodeID)
		}
		old := s.active[sn.replica]
		if old == nil {
			s.active[sn.replica] = sn
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		old.cancel(fmt.Errorf("replaced by a new connection from %s", sn.remote))
		select {
		case <-old.done:
		case <-sn.ctx.Done():
			return context.Cause(sn.ctx)
		}
	}
}

// unregister removes sn and remembers how its stream ended.
func (s *Server) unregister(sn *sender, err error) {
	st := sn.stats()
	st.State = StateStopped
	if err != nil {
		st.LastError = err.Error()
	}
	s.mu.Lock()
	if s.active[sn.replica] == sn {
		delete(s.active, sn.replica)
	}
	s.stopped[sn.replica] = st
	s.mu.Unlock()
}

// serve runs one connection: handshake, then the sender.
func (s *Server) serve(nc net.Conn) {
	remote := nc.RemoteAddr().String()
	log := s.log.With("remote", remote)
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	c := newConn(nc, handshakeTimeout)
	defer c.close()

	h, err := s.greet(c)
	if err != nil {
		args := []any{"reason", err}
		if h != nil {
			args = append(args, "replica", h.NodeID)
		}
		level := slog.LevelWarn
		if errors.Is(err, io.EOF) {
			level = slog.LevelInfo // a health check or port scan
		}
		log.Log(s.ctx, level, "stream: connection closed during the handshake", args...)
		return
	}
	log = log.With("replica", h.NodeID)
	sn := newSender(s, c, h, remote, ctx, cancel)
	err = sn.run()
	close(sn.done)
	switch {
	case s.ctx.Err() != nil:
		log.Info("stream: replica disconnected: server closing")
	case errors.Is(err, ErrProtocol) || CodeOf(err) != 0:
		log.Warn("stream: replica disconnected", "reason", err)
	default:
		log.Info("stream: replica disconnected", "reason", err)
	}
}
