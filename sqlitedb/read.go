package sqlitedb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/command"
	"zombiezen.com/go/sqlite"
)

// readConn is a read-only connection with its statement cache.
type readConn struct {
	conn  *sqlite.Conn
	stmts *stmtCache
}

func (db *DB) openRead() (*readConn, error) {
	c, err := sqlite.OpenConn(db.path, sqlite.OpenReadOnly|sqlite.OpenWAL)
	if err != nil {
		return nil, fmt.Errorf("open read connection to %s: %w", db.path, err)
	}
	if err := checkHandle(c, db.path); err != nil {
		c.Close()
		return nil, err
	}
	c.SetBusyTimeout(db.cfg.BusyTimeout)
	return &readConn{conn: c, stmts: newStmtCache(c, db.cfg.StmtCache)}, nil
}

func (rc *readConn) close() error {
	rc.stmts.clear()
	return rc.conn.Close()
}

func (db *DB) takeRead(ctx context.Context) (*readConn, error) {
	reads := db.reads
	if reads == nil {
		return nil, ErrClosed
	}
	select {
	case rc, ok := <-reads:
		if !ok {
			return nil, ErrClosed
		}
		return rc, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a read connection: %w", ctx.Err())
	}
}

func (db *DB) putRead(rc *readConn) {
	defer func() {
		if recover() != nil { // pool closed while this connection was out
			rc.close()
		}
	}()
	db.reads <- rc
}

// Query runs read-only statements on a pooled connection. Statement errors
// are reported in the results; the error is for the request as a whole.
func (db *DB) Query(ctx context.Context, req *command.QueryRequest, timings bool) ([]command.Result, error) {
	rc, err := db.takeRead(ctx)
	if err != nil {
		return nil, err
	}
	defer db.putRead(rc)
	done := ctx.Done()
	rc.conn.SetInterrupt(done)
	defer rc.conn.SetInterrupt(nil)
	if req.Transaction {
		if err := rc.exec("BEGIN"); err != nil {
			return nil, fmt.Errorf("begin read transaction: %w", err)
		}
		defer rc.exec("ROLLBACK")
	}
	out := make([]command.Result, len(req.Statements))
	for i := range req.Statements {
		if err := rc.query(&req.Statements[i], &out[i], timings); err != nil {
			out[i] = command.Result{Error: cleanError(err)}
		}
	}
	return out, nil
}

func (rc *readConn) exec(sql string) error {
	s, _, cached, err := rc.stmts.prepare(sql)
	if err != nil {
		return err
	}
	defer release(s, cached)
	_, err = s.Step()
	return err
}

func (rc *readConn) query(stmt *command.Statement, res *command.Result, timings bool) error {
	start := time.Now()
	s, rest, cached, err := rc.stmts.prepare(stmt.SQL)
	if err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("empty statement")
	}
	defer release(s, cached)
	if strings.TrimSpace(rest) != "" {
		return fmt.Errorf("a query takes one statement, got more after %q; send them as separate statements", strings.TrimSpace(stmt.SQL[:len(stmt.SQL)-len(rest)]))
	}
	if !readOnly(rc.conn, s) {
		return fmt.Errorf("%w: this statement writes; send it to /db/execute", ErrRefused)
	}
	if err := bind(s, stmt); err != nil {
		return err
	}
	if err := step(rc.conn, s, res, false); err != nil {
		return err
	}
	if timings {
		res.Seconds = time.Since(start).Seconds()
	}
	return nil
}
