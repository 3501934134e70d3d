package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// Service serves Tandem's rqlite-compatible HTTP API over a Store.
type Service struct {
	cfg     Config
	store   Store
	replica ReplicaAdmin // the Store's replica admin calls, or nil
	promote Promoter     // the Store's promote call, or nil
	follow  Follower     // the Store's follow call, or nil
	switchy Switcher     // the Store's switchover call, or nil
	rewind  Rewinder     // the Store's rewind call, or nil
	cluster Clusterer    // the Store's cluster endpoints, or nil
	log     *slog.Logger
	handler http.Handler

	// inflight is read-held by every request, so Close can wait for them
	// all by taking the write lock.
	inflight sync.RWMutex
	closing  bool // guarded by inflight

	mu       sync.Mutex // guards the fields below
	srv      *http.Server
	ln       net.Listener
	cancel   context.CancelFunc // cancels the base context of requests
	done     chan struct{}      // closed when Serve returns
	serveErr error              // set before done is closed
	closed   bool
}

// New returns a Service for cfg, which must pass Validate. It does not
// listen until Start.
func New(cfg Config, store Store) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("%w: Store is nil", ErrBadConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, store: store, log: log}
	s.replica, _ = store.(ReplicaAdmin)
	s.promote, _ = store.(Promoter)
	s.follow, _ = store.(Follower)
	s.switchy, _ = store.(Switcher)
	s.rewind, _ = store.(Rewinder)
	s.cluster, _ = store.(Clusterer)
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s, nil
}

// Handler returns the API as an http.Handler, for tests and for callers
// that run their own server.
func (s *Service) Handler() http.Handler { return s.handler }

// Start listens on Config.Addr and serves in a goroutine that Close stops.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.closed {
		return ErrStarted
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http service: listen on %s: %w", s.cfg.Addr, err)
	}
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	s.srv, s.ln, s.cancel, s.done = srv, ln, cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("http service on %s: %w", ln.Addr(), err)
		}
	}()
	s.log.Info("http service listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the address the service listens on, or nil before Start.
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the service. Requests in flight get Config.ShutdownTimeout
// to finish; then their contexts are cancelled and their connections cut.
// Close returns once every request handler has returned. It is safe to
// call more than once.
func (s *Service) Close() error {
	s.mu.Lock()
	srv, cancel, done := s.srv, s.cancel, s.done
	already := s.closed
	s.closed = true
	s.mu.Unlock()

	var err error
	if srv != nil && !already {
		ctx, stop := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		if err = srv.Shutdown(ctx); err != nil {
			cancel()
			err = errors.Join(fmt.Errorf("http service: graceful shutdown: %w", err), srv.Close())
		}
		stop()
		cancel()
		<-done
		err = errors.Join(err, s.serveErr)
	}
	// Wait for handlers still running (after a cut, or from Handler used
	// on another server), and refuse any that start later.
	s.inflight.Lock()
	s.closing = true
	s.inflight.Unlock()
	return err
}

// serveHTTP routes a request. Paths match exactly, as rqlite clients build
// them from a base URL.
func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.RLock()
	defer s.inflight.RUnlock()
	if s.closing {
		writeError(w, http.StatusServiceUnavailable, "the HTTP service is shutting down")
		return
	}
	defer s.recoverPanic(w, r)

	switch r.URL.Path {
	case "/db/execute":
		if s.allow(w, r, "POST") {
			s.handleExecute(w, r)
		}
	case "/db/query":
		if s.allow(w, r, "GET, POST") {
			s.handleQuery(w, r)
		}
	case "/db/request":
		if s.allow(w, r, "POST") {
			s.handleRequest(w, r)
		}
	case "/db/backup":
		if s.allow(w, r, "GET") {
			s.handleBackup(w, r)
		}
	case "/status":
		if s.allow(w, r, "GET, HEAD") {
			s.handleStatus(w, r)
		}
	case "/readyz":
		if s.allow(w, r, "GET, HEAD") {
			s.handleReadyz(w, r)
		}
	case "/replica/skip", "/replica/follow", "/replica/rewind", "/admin/switchover", "/admin/promote":
		s.serveAdmin(w, r)
	default:
		if strings.HasPrefix(r.URL.Path, "/cluster/") {
			if h := s.clusterHandler(); h != nil {
				h.ServeHTTP(w, r)
				return
			}
			writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (this node is not a member of an HA cluster: start it with --raft-addr)")
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	}
}

// clusterHandler returns the Store's handler for /cluster/ paths, or nil.
func (s *Service) clusterHandler() http.Handler {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.ClusterHandler()
}

// serveAdmin serves the operator calls a Store may implement; one it does
// not implement is answered 404, saying so.
func (s *Service) serveAdmin(w http.ResponseWriter, r *http.Request) {
	var handle func(http.ResponseWriter, *http.Request)
	var missing string
	switch r.URL.Path {
	case "/replica/skip":
		if s.replica != nil {
			handle = s.handleSkip
		}
		missing = "this store has no replica admin calls"
	case "/replica/follow":
		if s.follow != nil {
			handle = s.handleFollow
		}
		missing = "this store cannot follow an upstream"
	case "/replica/rewind":
		if s.rewind != nil {
			handle = s.handleRewind
		}
		missing = "this store cannot rewind"
	case "/admin/switchover":
		if s.switchy != nil {
			handle = s.handleSwitchover
		}
		missing = "this store cannot switch over"
	case "/admin/promote":
		if s.promote != nil {
			handle = s.handlePromote
		}
		missing = "this store cannot be promoted"
	}
	if handle == nil {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" ("+missing+")")
		return
	}
	if s.allow(w, r, "POST") {
		handle(w, r)
	}
}

// allow reports whether r's method is in the list. If not it answers 405,
// or 204 to OPTIONS, with an Allow header.
func (s *Service) allow(w http.ResponseWriter, r *http.Request, methods string) bool {
	m := r.Method
	switch methods {
	case "POST":
		if m == http.MethodPost {
			return true
		}
	case "GET":
		if m == http.MethodGet {
			return true
		}
	case "GET, POST":
		if m == http.MethodGet || m == http.MethodPost {
			return true
		}
	case "GET, HEAD":
		if m == http.MethodGet || m == http.MethodHead {
			return true
		}
	}
	w.Header().Set("Allow", "OPTIONS, "+methods)
	if m == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s: use %s", m, r.URL.Path, methods))
	return false
}

// recoverPanic turns a panic in a handler into a 500 and a log line, so no
// input can take the node down. http.ErrAbortHandler passes through: it is
// how a handler cuts a response it cannot finish.
func (s *Service) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.log.Error("panic serving HTTP request", "method", r.Method, "path", r.URL.Path,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	writeError(w, http.StatusInternalServerError, "internal error while serving the request; the node log has the details")
}

// storeError answers a failed Store call.
func (s *Service) storeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code >= 500 {
		s.log.Warn("http request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	writeError(w, code, err.Error())
}

var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	textContentType = []string{"text/plain; charset=utf-8"}
)

// writeJSON sends body with the given status.
func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// writeError sends {"error":msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	bp := getBuf()
	defer putBuf(bp)
	*bp = appendError((*bp)[:0], msg)
	writeJSON(w, code, *bp)
}
