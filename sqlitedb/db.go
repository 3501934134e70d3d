package sqlitedb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	lib "modernc.org/sqlite/lib"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Format is the payload format of log records.
type Format int

// Payload formats.
const (
	FormatRow Format = iota
	FormatStatement
	FormatMixed
)

var formatNames = [...]string{"row", "statement", "mixed"}

// String returns the format's name.
func (f Format) String() string {
	if f < 0 || int(f) >= len(formatNames) {
		return fmt.Sprintf("Format(%d)", int(f))
	}
	return formatNames[f]
}

// ParseFormat reads a format name; "" means row.
func ParseFormat(s string) (Format, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return FormatRow, nil
	}
	for i, n := range formatNames {
		if n == s {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("unknown payload format %q: use row, statement or mixed", s)
}

// Config configures a DB.
type Config struct {
	// Path is the SQLite database file.
	Path string
	// Format is the payload format of captured transactions.
	Format Format
	// ReadConns is the size of the read-only connection pool.
	ReadConns int
	// BusyTimeout bounds how long a connection waits for a lock.
	BusyTimeout time.Duration
	// StmtCache is the number of prepared statements kept per connection.
	StmtCache int
	// SQLiteApply makes Apply use sqlite3changeset_apply (with consecutive
	// changesets merged) instead of the row applier; for comparison.
	SQLiteApply bool
}

// DefaultConfig returns the defaults for the database at path.
func DefaultConfig(path string) Config {
	return Config{Path: path, Format: FormatRow, ReadConns: 4, BusyTimeout: 5 * time.Second, StmtCache: 128}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("sqlitedb: database path is empty")
	case c.ReadConns < 1:
		return fmt.Errorf("sqlitedb: read connections must be at least 1, got %d", c.ReadConns)
	case c.Format < FormatRow || c.Format > FormatMixed:
		return fmt.Errorf("sqlitedb: unknown payload format %d", c.Format)
	case c.StmtCache < 1:
		return fmt.Errorf("sqlitedb: statement cache must hold at least 1 statement, got %d", c.StmtCache)
	}
	return nil
}

// DB is an open Tandem database.
type DB struct {
	cfg    Config
	path   string
	writer *Writer
	reads  chan *readConn
	ckpt   *sqlite.Conn // checkpointer; used by one goroutine at a time
}

// Open opens or creates the database, its meta table and its connections.
func Open(cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, err
	}
	db := &DB{cfg: cfg, path: path}
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.initWriter(conn); err != nil {
		conn.Close()
		return nil, err
	}
	if db.ckpt, err = sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenWAL); err != nil {
		db.Close()
		return nil, fmt.Errorf("open checkpoint connection to %s: %w", path, err)
	}
	db.ckpt.SetBusyTimeout(cfg.BusyTimeout)
	db.reads = make(chan *readConn, cfg.ReadConns)
	for range cfg.ReadConns {
		rc, err := db.openRead()
		if err != nil {
			db.Close()
			return nil, err
		}
		db.reads <- rc
	}
	return db, nil
}

func (db *DB) initWriter(conn *sqlite.Conn) error {
	if err := checkHandle(conn, db.path); err != nil {
		return err
	}
	conn.SetBusyTimeout(db.cfg.BusyTimeout)
	for _, q := range []string{
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = NORMAL",
		// Checkpoints run on their own connection (DB.Checkpoint), off the
		// writer's commit path.
		"PRAGMA wal_autocheckpoint = 0",
		"CREATE TABLE IF NOT EXISTS " + metaTable + " (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID",
	} {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return fmt.Errorf("prepare %s: %s: %w", db.path, q, err)
		}
	}
	s, err := loadSchema(conn)
	if err != nil {
		return err
	}
	tls, handle := connHandle(conn)
	c := newCapture(tls, s)
	lib.Xsqlite3_preupdate_hook(tls, handle, cFuncPointer(preupdateTrampoline), c.id)
	db.writer = &Writer{conn: conn, cap: c, format: db.cfg.Format, stmts: newStmtCache(conn, db.cfg.StmtCache), rows: newRowApplier(conn), rowApply: !db.cfg.SQLiteApply}
	return nil
}

// Path returns the database file's absolute path.
func (db *DB) Path() string { return db.path }

// Writer returns the single writer. Only one goroutine may use it at a time.
func (db *DB) Writer() *Writer { return db.writer }

// Applied returns the LSN and GTID of the last transaction in the database.
func (db *DB) Applied(ctx context.Context) (lsn.LSN, gtid.GTID, error) {
	rc, err := db.takeRead(ctx)
	if err != nil {
		return 0, gtid.GTID{}, err
	}
	defer db.putRead(rc)
	return readMeta(rc.conn)
}

// OwnSeq returns the highest GTID sequence number this node's own commits
// recorded (see Writer.SetOrigin); 0 when none.
func (db *DB) OwnSeq(ctx context.Context) (uint64, error) {
	rc, err := db.takeRead(ctx)
	if err != nil {
		return 0, err
	}
	defer db.putRead(rc)
	var seq uint64
	err = sqlitex.Execute(rc.conn, "SELECT value FROM "+metaTable+" WHERE key = 'own_seq'", &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error {
			seq = uint64(st.ColumnInt64(0))
			return nil
		},
	})
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", metaTable, err)
	}
	return seq, nil
}

func readMeta(c *sqlite.Conn) (lsn.LSN, gtid.GTID, error) {
	var l lsn.LSN
	var g gtid.GTID
	var perr error
	err := sqlitex.Execute(c, "SELECT key, value FROM "+metaTable, &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error {
			switch st.ColumnText(0) {
			case "applied_lsn":
				l = lsn.LSN(st.ColumnInt64(1))
			case "applied_gtid":
				if s := st.ColumnText(1); s != "" {
					g, perr = gtid.Parse(s)
				}
			}
			return nil
		},
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return 0, gtid.GTID{}, fmt.Errorf("read %s: %w", metaTable, err)
	}
	return l, g, nil
}

// Checkpoint copies committed WAL frames into the database file without
// blocking the writer or readers (a PASSIVE checkpoint), so the WAL does
// not grow without bound. The writer never checkpoints itself: that would
// put the copy and an fsync on the commit path. It returns the number of
// frames in the WAL and how many are checkpointed.
func (db *DB) Checkpoint() (walFrames, checkpointed int, err error) {
	err = sqlitex.ExecuteTransient(db.ckpt, "PRAGMA main.wal_checkpoint(PASSIVE)", &sqlitex.ExecOptions{
		ResultFunc: func(s *sqlite.Stmt) error {
			walFrames, checkpointed = s.ColumnInt(1), s.ColumnInt(2)
			return nil
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("checkpoint %s: %w", db.path, err)
	}
	return walFrames, checkpointed, nil
}

// Close closes every connection.
func (db *DB) Close() error {
	var errs []error
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.Close())
		db.ckpt = nil
	}
	if db.reads != nil {
		close(db.reads)
		for rc := range db.reads {
			errs = append(errs, rc.close())
		}
		db.reads = nil
	}
	if w := db.writer; w != nil {
		w.stmts.clear()
		w.rows.reset()
		tls, handle := connHandle(w.conn)
		lib.Xsqlite3_preupdate_hook(tls, handle, 0, 0)
		w.cap.close()
		errs = append(errs, w.conn.Close())
		db.writer = nil
	}
	return errors.Join(errs...)
}
