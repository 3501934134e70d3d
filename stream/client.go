package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
)

// Sink is what a Client needs from its node: the replica's local log and
// applier. The receiving goroutine calls every method but Applied, which
// the acking goroutine calls concurrently.
type Sink interface {
	// Position returns the next LSN the replica needs: its log's end. It
	// is not called when NeedsSeed is true.
	Position() lsn.LSN
	// NeedsSeed reports that the replica has no data and must be seeded.
	NeedsSeed() bool
	// InstallSeed installs a seed: the SQLite database (size bytes from
	// r) and an empty log that starts at LSN at. It must read r to EOF
	// and install nothing if reading fails: r returns the last bytes only
	// after the seed's SHA-256 has been verified, so writing to a
	// temporary file that is renamed into place once r is done keeps a
	// corrupt seed out.
	InstallSeed(r io.Reader, size int64, at lsn.LSN) error
	// Append writes records, without syncing; the first continues
	// Position exactly and each follows the one before (rlog's
	// Log.AppendReplicated checks just that). The records are the sink's
	// to keep; nothing else refers to them.
	Append(recs []*rlog.Record) error
	// Sync makes what Append wrote durable and returns the durable end.
	Sync() (lsn.LSN, error)
	// Applied returns the end of what the replica has applied to its
	// database. It must be safe to call concurrently with the others.
	Applied() lsn.LSN
	// HighestTerm returns the highest term the replica has seen.
	HighestTerm() uint64
	// LastTerm returns the term of the last record in the replica's log,
	// 0 when it holds none.
	LastTerm() uint64
	// ObserveTerm records a term seen upstream; it fails when t is lower
	// than the highest term seen, and must keep a higher one durably.
	ObserveTerm(t uint64) error
}

// Client follows an upstream node: it connects, authenticates, receives
// the log (or a seed first) into its Sink and acks, reconnecting with
// backoff until its context ends.
type Client struct {
	cfg     ClientConfig
	sink    Sink
	log     *slog.Logger
	running atomic.Bool
	kick    chan struct{} // NotifyApplied; capacity 1
	bytes   counters

	mu        sync.Mutex
	st        ClientStatus
	seedStart time.Time
	seedLog   time.Time
}

// ClientStatus describes a Client's stream, for status pages and metrics.
type ClientStatus struct {
	Upstream    string    `json:"upstream"`
	Connected   bool      `json:"connected"`
	State       string    `json:"state"`
	Compression bool      `json:"compression"`
	ReceivedLSN lsn.LSN   `json:"received_lsn"` // end of the last records received
	WrittenLSN  lsn.LSN   `json:"written_lsn"`  // end of what Sink.Append took
	FlushedLSN  lsn.LSN   `json:"flushed_lsn"`  // what Sink.Sync returned last
	LastMessage time.Time `json:"last_message"`
	// The upstream's durable end, clock and term, from its last heartbeat.
	PrimaryLSN lsn.LSN `json:"primary_lsn"`
	// PrimaryHTTP is the primary's client API address, from Welcome.
	PrimaryHTTP string `json:"primary_http,omitempty"`
	// Synchronous says the upstream may make commits wait for this
	// replica (from its heartbeats; true until the first one says).
	Synchronous bool `json:"synchronous"`
	// ApplySync says commits may wait for this replica's apply.
	ApplySync   bool         `json:"apply_synchronous"`
	PrimaryTime time.Time    `json:"primary_time"`
	Term        uint64       `json:"term"`
	Seed        SeedProgress `json:"seed"`
	Received    ByteCounts   `json:"received"`
	Sent        ByteCounts   `json:"sent"`
	Connects    int          `json:"connects"`
	LastError   string       `json:"last_error,omitempty"`
	// LastErrorCode is set when the last error was a refusal; a fatal one
	// (see Code.Fatal) needs the operator.
	LastErrorCode Code      `json:"last_error_code,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at"`
}

// SeedProgress describes the running (or last) seed.
type SeedProgress struct {
	LSN   lsn.LSN       `json:"lsn"`
	Bytes int64         `json:"bytes"`
	Total int64         `json:"total"`
	Rate  float64       `json:"rate"` // bytes per second
	ETA   time.Duration `json:"eta"`
	Done  bool          `json:"done"`
}

// seedLogInterval is how often seed progress is logged.
const seedLogInterval = 5 * time.Second

// NewClient checks the configuration and returns a client; Run starts it.
func NewClient(cfg ClientConfig, sink Sink) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("stream: NewClient: nil Sink")
	}
	cl := &Client{cfg: cfg, sink: sink, log: cfg.Logger.With("upstream", cfg.Upstream), kick: make(chan struct{}, 1)}
	cl.st = ClientStatus{Upstream: cfg.Upstream, State: StateConnecting, Synchronous: true, ApplySync: true}
	return cl, nil
}

// Run follows the upstream until ctx ends, then returns nil. After a
// failure it logs the reason, records it in Status and reconnects after a
// backoff that doubles from MinBackoff to MaxBackoff, with jitter; after a
// fatal refusal (Code.Fatal: wrong secret, term too low, slot lost...) it
// keeps retrying at MaxBackoff so that an operator sees the error in
// Status and can fix the cause without a restart.
func (cl *Client) Run(ctx context.Context) error {
	if !cl.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer cl.running.Store(false)
	backoff := cl.cfg.MinBackoff
	for {
		progressed, err := cl.session(ctx)
		if err == nil {
			err = errors.New("stream: connection ended") // session always explains; be safe
		}
		if ctx.Err() != nil {
			cl.update(func(st *ClientStatus) { st.Connected, st.State = false, StateStopped })
			return nil
		}
		if progressed {
			backoff = cl.cfg.MinBackoff
		}
		// Full jitter over the upper half: reconnecting replicas spread out.
		wait := backoff/2 + rand.N(backoff/2+1)
		code := CodeOf(err)
		if code.Fatal() {
			wait = cl.cfg.MaxBackoff
		}
		cl.update(func(st *ClientStatus) {
			st.Connected, st.State = false, StateBackoff
			st.LastError, st.LastErrorCode, st.LastErrorAt = err.Error(), code, time.Now()
		})
		level := slog.LevelWarn
		if code.Fatal() {
			level = slog.LevelError
		}
		cl.log.Log(ctx, level, "stream: disconnected from upstream", "reason", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			cl.update(func(st *ClientStatus) { st.State = StateStopped })
			return nil
		}
		backoff = min(2*backoff, cl.cfg.MaxBackoff)
	}
}

// NotifyApplied tells the client the apply position moved, so it acks at
// once: remote_apply commit waits upstream are released without waiting
// for the next AckInterval. It never blocks.
func (cl *Client) NotifyApplied() {
	select {
	case cl.kick <- struct{}{}:
	default:
	}
}

// Status returns the client's current status.
func (cl *Client) Status() ClientStatus {
	cl.mu.Lock()
	st := cl.st
	start := cl.seedStart
	cl.mu.Unlock()
	st.Received, st.Sent = cl.bytes.received(), cl.bytes.sent()
	if sp := &st.Seed; !start.IsZero() && sp.Bytes > 0 {
		if elapsed := time.Since(start).Seconds(); elapsed > 0 && !sp.Done {
			sp.Rate = float64(sp.Bytes) / elapsed
			sp.ETA = time.Duration(float64(sp.Total-sp.Bytes) / sp.Rate * float64(time.Second))
		}
	}
	return st
}

func (cl *Client) update(f func(st *ClientStatus)) {
	cl.mu.Lock()
	f(&cl.st)
	cl.mu.Unlock()
}

// observeTerm checks a term the upstream announced (Welcome, Heartbeat):
// a replica never follows a term lower than one it has seen.
func (cl *Client) observeTerm(t uint64, what string) error {
	hi := cl.sink.HighestTerm()
	if t < hi {
		return Errorf(CodeTermTooLow, "upstream %s sent a %s at term %d, but this node has seen term %d: it will not follow an older primary; point it at the current primary",
			cl.cfg.Upstream, what, t, hi)
	}
	if t > hi {
		if err := cl.sink.ObserveTerm(t); err != nil {
			return Errorf(CodeTermTooLow, "upstream %s is at term %d, which this node refuses: %v", cl.cfg.Upstream, t, err)
		}
	}
	cl.update(func(st *ClientStatus) { st.Term = t })
	return nil
}

// seedBegin, seedProgress and seedDone keep the seed's status and log it.
func (cl *Client) seedBegin(size int64, at lsn.LSN) {
	now := time.Now()
	cl.mu.Lock()
	cl.seedStart, cl.seedLog = now, now
	cl.st.State, cl.st.Seed = StateSeeding, SeedProgress{LSN: at, Total: size}
	cl.mu.Unlock()
	cl.log.Info("stream: seeding from upstream", "bytes", size, "lsn", at)
}

func (cl *Client) seedProgress(got, size int64) {
	cl.mu.Lock()
	cl.st.Seed.Bytes = got
	due := time.Since(cl.seedLog) >= seedLogInterval
	if due {
		cl.seedLog = time.Now()
	}
	cl.mu.Unlock()
	if due {
		sp := cl.Status().Seed
		cl.log.Info("stream: seed progress", "bytes", got, "total", size,
			"percent", fmt.Sprintf("%.1f", 100*float64(got)/float64(max(size, 1))),
			"rate_mib_s", fmt.Sprintf("%.1f", sp.Rate/(1<<20)), "eta", sp.ETA.Round(time.Second))
	}
}

func (cl *Client) seedDone() {
	cl.mu.Lock()
	sp := &cl.st.Seed
	elapsed := time.Since(cl.seedStart)
	sp.Done, sp.ETA = true, 0
	sp.Rate = float64(sp.Bytes) / max(elapsed.Seconds(), 1e-9)
	total, at, rate := sp.Total, sp.LSN, sp.Rate
	cl.mu.Unlock()
	cl.log.Info("stream: seed installed", "bytes", total, "lsn", at, "took", elapsed.Round(time.Millisecond),
		"rate_mib_s", fmt.Sprintf("%.1f", rate/(1<<20)))
}
