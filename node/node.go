package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/commitwait"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/hlc"
	"github.com/tandem-db/tandem/httpapi"
	"github.com/tandem-db/tandem/rlog"
	"github.com/tandem-db/tandem/sqlitedb"
	"github.com/tandem-db/tandem/stream"
)

// Errors returned by a node.
var (
	// ErrClosed reports a request to a node that is shutting down.
	ErrClosed = errors.New("node is shutting down")
	// ErrWriteFailed reports that the write path stopped after a log or
	// database failure; the node must be restarted to recover.
	ErrWriteFailed = errors.New("write path stopped")
	// ErrBusy reports a full write queue.
	ErrBusy = errors.New("write queue is full")
)

// Node is one running Tandem node.
type Node struct {
	cfg    Config
	logger *slog.Logger
	id     identity
	format sqlitedb.Format
	log    *rlog.Log
	db     *sqlitedb.DB
	clock  *hlc.Clock
	http   *httpapi.Service
	start  time.Time

	reqs    chan *writeReq
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing chan struct{}
	// writerDone is closed when the current writer goroutine has returned;
	// stopWriter stops it.
	writerDone atomic.Pointer[chan struct{}]
	stopWriter func()
	// fenced refuses new writes during a switchover.
	fenced atomic.Bool
	once   sync.Once

	waiter      *commitwait.Waiter
	afterCommit bool
	replica     atomic.Bool   // the role: replica (true) or primary; Promote flips it
	ready       chan struct{} // closed once the database and log are open
	needsSeed   atomic.Bool
	applierP    atomic.Pointer[applier]       // a replica's applier; see app
	client      atomic.Pointer[stream.Client] // a replica's stream from its upstream
	upstream    atomic.Pointer[string]        // the upstream's replication address
	server      atomic.Pointer[stream.Server]
	slots       *slots
	lag         *lagTracker
	forwarder   *forwarder
	// A replica's stream client and applier run under their own contexts,
	// so that Promote can stop them and turn the node into a primary.
	stopClient, stopApplier func()
	clientDone, applierDone chan struct{}
	promoteMu               sync.Mutex
	history                 []roleEvent

	// lastRemoteApply is when (unix nanos) a remote_apply commit last ran.
	lastRemoteApply atomic.Int64
	visible         *watermark // primary: end LSN of the last batch visible in SQLite
	term            atomic.Uint64
	lastTerm        atomic.Uint64 // term of the last record in the log
	terms           *termHistory
	seq             uint64 // last GTID sequence number this node assigned
	// ownSeen is the highest sequence number of this node's own GTIDs in
	// its log, found by a scan at start (ownScanned closes when it is
	// done) and kept up as a replica receives records: a promotion goes on
	// from it without scanning the log on the failover path.
	ownSeen    atomic.Uint64
	ownScanned chan struct{}
	ownScanErr error // set before ownScanned closes
	failed     atomic.Pointer[error]
	recovery   recoveryInfo
	stats      writeStats
	gathering  gatherState // the writer goroutine's
	ha         *haNode     // automatic failover; nil without --raft-addr
	// restart is closed when the node must be reopened (to re-seed).
	restart       chan struct{}
	restartOnce   sync.Once
	restartReason string
}

// Open opens the node's data directory, recovers it and starts its
// goroutines: the writer on a primary; the stream client and the applier on
// a replica; the replication server when ReplAddr is set; the HTTP API when
// HTTPAddr is set. A replica with an empty data dir seeds itself from its
// upstream first.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("node", cfg.NodeID)
	format, _ := sqlitedb.ParseFormat(cfg.Format)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	id, err := loadIdentity(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	aside, why, err := setAsideForReseed(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if aside != "" {
		logger.Warn("re-seeding: the old copy is set aside", "dir", aside, "reason", why)
	}
	n := &Node{cfg: cfg, logger: logger, id: id, format: format, clock: hlc.NewClock(wallClock(cfg.ClockOffset)), start: time.Now(),
		reqs: make(chan *writeReq, cfg.QueueSize), closing: make(chan struct{}), ready: make(chan struct{}), restart: make(chan struct{}),
		afterCommit: cfg.SyncPoint == "after_commit", lag: newLagTracker(), forwarder: &forwarder{source: cfg.SourceAddr}, visible: newWatermark(0)}
	idle := make(chan struct{})
	n.writerDone.Store(&idle) // no writer yet: nothing closes it
	term, err := loadTerm(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.term.Store(term)
	if n.terms, err = loadTermHistory(cfg.DataDir); err != nil {
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if cfg.RaftAddr != "" {
		// The cluster state decides the role, the upstream and the
		// commit config.
		if err := n.openHA(); err != nil {
			n.closeHA()
			n.cancel()
			return nil, err
		}
	}
	n.replica.Store(n.cfg.Primary != "")
	n.upstream.Store(&n.cfg.Primary)
	wopts := commitwait.DefaultOptions()
	wopts.Config, _ = commitwait.Parse(n.cfg.SyncStandbys)
	wopts.Mode, _ = commitwait.ParseMode(n.cfg.SyncMode)
	wopts.Timeout, wopts.Logger = n.cfg.SyncTimeout, logger
	if n.waiter, err = commitwait.NewWaiter(wopts); err != nil {
		n.closeHA()
		n.cancel()
		return nil, fmt.Errorf("sync standbys: %w", err)
	}

	// Decided once: the stream client started below may install the seed
	// (and start storage itself) before Open gets to the end.
	seeding := n.isReplica() && !fileExists(filepath.Join(cfg.DataDir, dbFile))
	if seeding {
		n.needsSeed.Store(true)
		logger.Info("empty data dir: this replica will seed itself from its upstream", "upstream", n.cfg.Primary)
	} else if err := n.openStorage(); err != nil {
		n.closeHA()
		n.cancel()
		return nil, err
	}
	if n.isReplica() {
		if err := n.startClient(); err != nil {
			n.Close()
			return nil, err
		}
	}
	if cfg.HTTPAddr != "" {
		hc := httpapi.DefaultConfig()
		hc.Addr = cfg.HTTPAddr
		hc.MaxBodyBytes = cfg.MaxRequestBytes
		hc.MaxStatements = cfg.MaxStatements
		hc.Logger = logger
		svc, err := httpapi.New(hc, n)
		if err == nil {
			err = svc.Start()
		}
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("start HTTP API on %s: %w", cfg.HTTPAddr, err)
		}
		n.http = svc
		logger.Info("serving HTTP API", "addr", svc.Addr().String())
	}
	// The HTTP API is up (answering "not ready") before the replication
	// server starts, so replicas learn the primary's HTTP address.
	if !seeding {
		if err := n.storageReady(); err != nil {
			n.Close()
			return nil, err
		}
	}
	if n.ha != nil {
		n.ha.start()
	}
	return n, nil
}

// closeHA closes the node's raft member, if it has one.
func (n *Node) closeHA() error {
	if n.ha == nil {
		return nil
	}
	return n.ha.close()
}

// storageReady starts what needs the database and the log: the writer or
// the applier, the replication server, maintenance. It runs at Open, or
// when a replica has installed its seed.
func (n *Node) storageReady() error {
	slots, err := loadSlots(n.cfg.DataDir, n.log, n.cfg.MaxSlotLogSize, n.logger)
	if err != nil {
		return err
	}
	n.slots = slots
	// Standbys behind what the log held at the start lag from now at the
	// least (when it became durable is not known).
	n.lag.add(n.log.Durable(), time.Now())
	n.ownScanned = make(chan struct{})
	n.goFunc(func() {
		defer close(n.ownScanned)
		seq, err := n.lastOwnSeq()
		if err != nil {
			n.ownScanErr = err
			return
		}
		raiseTo(&n.ownSeen, seq)
	})
	if n.isReplica() {
		applied, _, err := n.db.Applied(n.ctx)
		if err != nil {
			return err
		}
		a := newApplier(n, applied, n.cfg.ApplyDelay)
		n.applierP.Store(a)
		ctx, cancel := context.WithCancel(n.ctx)
		done := make(chan struct{})
		n.stopApplier, n.applierDone = cancel, done
		n.goFunc(func() {
			defer close(done)
			a.run(ctx)
		})
	} else {
		n.startWriter()
	}
	if n.cfg.ReplAddr != "" {
		if err := n.startServer(); err != nil {
			return err
		}
	}
	n.goFunc(n.maintain)
	close(n.ready)
	return nil
}

// app returns the replica's current applier (role changes replace it).
func (n *Node) app() *applier { return n.applierP.Load() }

// streamClient returns a replica's stream client, nil on a primary.
func (n *Node) streamClient() *stream.Client { return n.client.Load() }

// isReplica reports the node's current role.
func (n *Node) isReplica() bool { return n.replica.Load() }

// goFunc runs f in a goroutine the node owns: Close waits for it.
func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// isReady reports whether the database and the log are open.
func (n *Node) isReady() bool {
	select {
	case <-n.ready:
		return true
	default:
		return false
	}
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// UUID returns the node's UUID, the origin of the GTIDs it assigns.
func (n *Node) UUID() gtid.UUID { return n.id.UUID }

// HTTPAddr returns the address the HTTP API listens on, or "".
func (n *Node) HTTPAddr() string {
	if n.http == nil {
		return ""
	}
	return n.http.Addr().String()
}

// DB returns the node's database.
func (n *Node) DB() *sqlitedb.DB { return n.db }

// Log returns the node's replication log.
func (n *Node) Log() *rlog.Log { return n.log }

// Close stops the HTTP API and the writer, then closes the database and
// the log. Requests still queued fail with ErrClosed.
func (n *Node) Close() error {
	var errs []error
	n.once.Do(func() {
		if n.http != nil {
			errs = append(errs, n.http.Close())
		}
		close(n.closing)
		n.releaseLease()
		srv := n.server.Load()
		if srv != nil {
			errs = append(errs, srv.Close())
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.waiter.Close()
		n.wg.Wait()
		errs = append(errs, n.closeHA())
		// A replica that finished installing its seed meanwhile started
		// its server after the one above was looked at.
		if late := n.server.Load(); late != nil && late != srv {
			errs = append(errs, late.Close())
		}
		if n.slots != nil {
			errs = append(errs, n.slots.save())
		}
		if n.db != nil {
			errs = append(errs, n.db.Close())
		}
		if n.log != nil {
			errs = append(errs, n.log.Close())
		}
		if n.forwarder != nil {
			n.forwarder.close()
		}
	})
	return errors.Join(errs...)
}

// fail stops the write path for good; later writes get err.
func (n *Node) fail(err error) {
	if n.failed.CompareAndSwap(nil, &err) {
		n.logger.Error("write path stopped; restart the node to recover from the log", "err", err)
	}
}

func (n *Node) failure() error {
	if p := n.failed.Load(); p != nil {
		return fmt.Errorf("%w: %v; restart the node to recover from the log", ErrWriteFailed, *p)
	}
	return nil
}

// wallClock is the HLC's wall time: the system clock, shifted by offset
// when a test injects clock skew.
func wallClock(offset time.Duration) func() time.Time {
	if offset == 0 {
		return nil
	}
	return func() time.Time { return time.Now().Add(offset) }
}

// raiseTo sets a to v if v is larger.
func raiseTo(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// wall is the node's wall clock (shifted by ClockOffset under test), read
// for the times in cluster commands. It has no monotonic reading: measure
// durations with time.Now, never with it.
func (n *Node) wall() time.Time { return time.Now().Add(n.cfg.ClockOffset).Round(0) }
