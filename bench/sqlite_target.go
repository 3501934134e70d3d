package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite", the one Tandem uses
)

// SQLiteTarget is the baseline: the workload straight against a SQLite file
// through database/sql and modernc.org/sqlite, in WAL mode with
// synchronous=FULL, one transaction per operation. The workers share one
// *sql.DB with a connection each; busy_timeout makes concurrent writers
// wait for the write lock instead of failing at once, and transactions
// begin IMMEDIATE so a writer never has to upgrade a read lock.
type SQLiteTarget struct {
	path string
	db   *sql.DB
}

var _ Target = (*SQLiteTarget)(nil)

// SQLiteDSN returns the DSN SQLiteTarget opens path with.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// OpenSQLite opens (creating if needed) the SQLite file at path.
func OpenSQLite(path string) (*SQLiteTarget, error) {
	db, err := sql.Open("sqlite", SQLiteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &SQLiteTarget{path: path, db: db}, nil
}

// String returns "sqlite:PATH".
func (s *SQLiteTarget) String() string { return "sqlite:" + s.path }

// Setup sizes the connection pool to cfg.Clients, so connections are kept
// rather than reopened, and creates the table.
func (s *SQLiteTarget) Setup(ctx context.Context, cfg Config) error {
	s.db.SetMaxOpenConns(cfg.Clients)
	s.db.SetMaxIdleConns(cfg.Clients)
	_, err := s.db.ExecContext(ctx, createSQL)
	return err
}

// CountIDs counts the rows with an id in [1, hi].
func (s *SQLiteTarget) CountIDs(ctx context.Context, hi int64) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, countIDsSQL, hi).Scan(&n)
	return n, err
}

// Insert inserts rows in one transaction: a single row as one autocommit
// statement, more between BEGIN IMMEDIATE and COMMIT.
func (s *SQLiteTarget) Insert(ctx context.Context, rows []Row) error {
	if len(rows) == 1 {
		return insertRow(ctx, s.db, rows[0])
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := insertRow(ctx, tx, r); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertRow(ctx context.Context, e execer, r Row) error {
	var err error
	if r.ID != 0 {
		_, err = e.ExecContext(ctx, insertIDSQL, r.ID, r.K, r.V)
	} else {
		_, err = e.ExecContext(ctx, insertSQL, r.K, r.V)
	}
	return err
}

// PointSelect reads the k and v of row id.
func (s *SQLiteTarget) PointSelect(ctx context.Context, id int64) error {
	var k, v string
	err := s.db.QueryRowContext(ctx, pointSelectSQL, id).Scan(&k, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoRow
	}
	return err
}

// DB returns the underlying database, for tests that check its contents.
func (s *SQLiteTarget) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQLiteTarget) Close() error { return s.db.Close() }
