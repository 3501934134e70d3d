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
	once    sync.Once

	waiter      *commitwait.Waiter
	afterCommit bool

	term     uint64
	seq      uint64 // last GTID sequence number this node assigned
	failed   atomic.Pointer[error]
	recovery recoveryInfo
	stats    writeStats
}

// Open opens the node's data directory, recovers it and starts the writer
// and, when configured, the HTTP API.
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
	n := &Node{cfg: cfg, logger: logger, id: id, format: format, clock: hlc.NewClock(nil), start: time.Now(),
		reqs: make(chan *writeReq, cfg.QueueSize), closing: make(chan struct{}), term: 1,
		afterCommit: cfg.SyncPoint == "after_commit"}
	wopts := commitwait.DefaultOptions()
	wopts.Config, _ = commitwait.Parse(cfg.SyncStandbys)
	wopts.Mode, _ = commitwait.ParseMode(cfg.SyncMode)
	wopts.Timeout, wopts.Logger = cfg.SyncTimeout, logger
	if n.waiter, err = commitwait.NewWaiter(wopts); err != nil {
		return nil, fmt.Errorf("sync standbys: %w", err)
	}

	// The database first: its applied LSN is the floor below which the
	// log's recovery must not cut anything.
	dbcfg := sqlitedb.DefaultConfig(filepath.Join(cfg.DataDir, "db.sqlite"))
	dbcfg.Format = format
	dbcfg.ReadConns = cfg.ReadConns
	if n.db, err = sqlitedb.Open(dbcfg); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	applied, _, err := n.db.Applied(context.Background())
	if err != nil {
		n.db.Close()
		return nil, err
	}
	lopts := rlog.DefaultOptions()
	lopts.Dir = filepath.Join(cfg.DataDir, "log")
	lopts.SegmentSize = cfg.SegmentSize
	lopts.Logger = logger
	lopts.Floor = applied
	if cfg.LogFS != nil {
		lopts.FS = cfg.LogFS
	}
	if n.log, err = rlog.Open(lopts); err != nil {
		n.db.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := n.recover(); err != nil {
		n.db.Close()
		n.log.Close()
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.runWriter()
	}()
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
	return n, nil
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
		if n.cancel != nil {
			n.cancel()
		}
		n.waiter.Close()
		n.wg.Wait()
		errs = append(errs, n.db.Close(), n.log.Close())
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
