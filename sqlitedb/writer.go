package sqlitedb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-db/tandem/changeset"
	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/payload"
	"zombiezen.com/go/sqlite"
)

// Writer is the database's single writer connection. It is not safe for
// concurrent use: one goroutine (the node's writer) owns it.
type Writer struct {
	conn    *sqlite.Conn
	cap     *capture
	format  Format
	stmts   *stmtCache
	builder changeset.Builder
	rows    *rowApplier
	origin  gtid.UUID // this node's UUID; zero until SetOrigin
	// rowApply applies changesets with the row applier (cached statements)
	// rather than sqlite3changeset_apply; both have the same semantics.
	rowApply bool
	inBatch  bool
	ddl      bool // the open batch changed the schema
	buf      []byte
}

// Txn is a captured client transaction.
type Txn struct {
	Results []command.Result
	// Payload is the encoded log record body; nil when the transaction
	// changed nothing and needs no record.
	Payload []byte
	// Rows, Statements and DDL say what the payload carries.
	Rows, Statements, DDL bool
}

// txnState is what a client transaction has accumulated; a statement that
// is rolled back restores it.
type txnState struct {
	ops    int
	nondet string
	noPK   string
}

// Begin opens a batch transaction.
func (w *Writer) Begin() error {
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin batch: %w", err)
	}
	w.inBatch, w.ddl = true, false
	return nil
}

// Commit records applied as the last applied LSN (and last as its GTID) and
// commits the batch.
func (w *Writer) Commit(applied lsn.LSN, last gtid.GTID) error {
	if err := w.setMeta(applied, last); err != nil {
		return err
	}
	if err := w.exec("COMMIT"); err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	w.inBatch = false
	return nil
}

// Rollback abandons the batch.
func (w *Writer) Rollback() error {
	if !w.inBatch {
		return nil
	}
	w.inBatch = false
	err := w.exec("ROLLBACK")
	if w.ddl {
		if rerr := w.reloadSchema(); err == nil {
			err = rerr
		}
	}
	return err
}

func (w *Writer) setMeta(applied lsn.LSN, last gtid.GTID) error {
	s, _, cached, err := w.stmts.prepare("INSERT OR REPLACE INTO " + metaTable + " (key, value) VALUES ('applied_lsn', ?1), ('applied_gtid', ?2)")
	if err != nil {
		return fmt.Errorf("write %s: %w", metaTable, err)
	}
	defer release(s, cached)
	s.BindInt64(1, int64(applied))
	s.BindText(2, last.String())
	if _, err := s.Step(); err != nil {
		return fmt.Errorf("write %s: %w", metaTable, err)
	}
	if w.origin.IsZero() || last.Origin != w.origin {
		return nil
	}
	// This node's own GTID sequence, kept even after its records leave the
	// log, so that it never hands out a sequence number twice.
	s2, _, cached2, err := w.stmts.prepare("INSERT INTO " + metaTable + " (key, value) VALUES ('own_seq', ?1) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)")
	if err != nil {
		return fmt.Errorf("write %s: %w", metaTable, err)
	}
	defer release(s2, cached2)
	s2.BindInt64(1, int64(last.Seq))
	if _, err := s2.Step(); err != nil {
		return fmt.Errorf("write %s: %w", metaTable, err)
	}
	return nil
}

// SetOrigin names this node's UUID, so that commits of its own
// transactions also keep its highest GTID sequence number (see OwnSeq).
func (w *Writer) SetOrigin(u gtid.UUID) { w.origin = u }

// exec runs a parameterless statement through the statement cache.
func (w *Writer) exec(sql string) error {
	s, _, cached, err := w.stmts.prepare(sql)
	if err != nil {
		return err
	}
	defer release(s, cached)
	_, err = s.Step()
	return err
}

func (w *Writer) reloadSchema() error {
	s, err := loadSchema(w.conn)
	if err != nil {
		return err
	}
	w.cap.schema = s
	w.cap.schemaChanged()
	w.rows.reset()
	return nil
}

// Execute runs one client transaction inside the open batch, in a
// savepoint, and captures it. Statement failures are reported in the
// results; the error is for failures that leave the batch unusable.
func (w *Writer) Execute(ctx context.Context, req *command.ExecuteRequest) (*Txn, error) {
	if !w.inBatch {
		return nil, fmt.Errorf("sqlitedb: Execute outside a batch")
	}
	if err := w.exec("SAVEPOINT tandem_tx"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	w.cap.ops = w.cap.ops[:0]
	w.cap.noPK = ""
	w.cap.active = true
	defer func() { w.cap.active = false }()

	txn := &Txn{Results: make([]command.Result, 0, len(req.Statements))}
	var st txnState
	inner := !req.Transaction && len(req.Statements) > 1
	failed := false
	for i := range req.Statements {
		if err := ctx.Err(); err != nil {
			txn.Results = append(txn.Results, command.Result{Error: "request ended before this statement ran: " + err.Error()})
			failed = req.Transaction
			if failed {
				break
			}
			continue
		}
		if inner {
			if err := w.exec("SAVEPOINT tandem_stmt"); err != nil {
				return nil, fmt.Errorf("savepoint: %w", err)
			}
		}
		saved := st
		res, err := w.statement(&req.Statements[i], &st)
		if err != nil {
			res.Error = cleanError(err)
			txn.Results = append(txn.Results, res)
			if !inner {
				failed = true
				break
			}
			if err := w.undo("tandem_stmt"); err != nil {
				return nil, err
			}
			st = saved
			w.cap.ops = w.cap.ops[:st.ops]
			continue
		}
		txn.Results = append(txn.Results, res)
		if inner {
			if err := w.exec("RELEASE tandem_stmt"); err != nil {
				return nil, fmt.Errorf("release savepoint: %w", err)
			}
		}
	}
	if !failed {
		var err error
		if txn.Payload, err = w.buildPayload(txn, &st); err != nil {
			// The capture cannot be logged: the transaction must not stay.
			txn.Results = append(txn.Results[:0:0], command.Result{Error: cleanError(err)})
			failed = true
		}
	}
	if failed {
		if err := w.undo("tandem_tx"); err != nil {
			return nil, err
		}
		txn.Payload, txn.Rows, txn.Statements, txn.DDL = nil, false, false, false
		return txn, nil
	}
	if err := w.exec("RELEASE tandem_tx"); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", err)
	}
	return txn, nil
}

// undo rolls back to and releases a savepoint.
func (w *Writer) undo(name string) error {
	if err := w.exec("ROLLBACK TO " + name); err != nil {
		return fmt.Errorf("rollback to savepoint: %w", err)
	}
	if err := w.exec("RELEASE " + name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	if w.ddl {
		return w.reloadSchema()
	}
	return nil
}

// statement runs one client statement (which may hold several SQL
// statements separated by ';'; parameters bind to the first).
func (w *Writer) statement(stmt *command.Statement, st *txnState) (command.Result, error) {
	var res command.Result
	start := time.Now()
	sql := stmt.SQL
	first := true
	for strings.TrimSpace(sql) != "" {
		s, rest, cached, err := w.stmts.prepare(sql)
		if err != nil {
			return res, err
		}
		if s == nil { // only comments
			break
		}
		part := strings.TrimSpace(sql[:len(sql)-len(rest)])
		args := stmt
		if !first {
			args = &command.Statement{}
		}
		err = w.runPart(s, part, args, st, &res)
		release(s, cached)
		if err != nil {
			return res, err
		}
		sql, first = rest, false
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func (w *Writer) runPart(s *sqlite.Stmt, sql string, args *command.Statement, st *txnState, res *command.Result) error {
	class, kw := classify(sql)
	switch class {
	case classTxControl:
		return fmt.Errorf("%w: %s: Tandem runs each request as one transaction; send the statements in one request, with ?transaction for all-or-nothing", ErrRefused, strings.ToUpper(kw))
	case classRefused:
		return fmt.Errorf("%w: %s changes node configuration or files and is not replicated; set it in Tandem's configuration instead", ErrRefused, strings.ToUpper(kw))
	case classDDL:
		if strings.Contains(strings.ToLower(sql), "_tandem_") {
			return fmt.Errorf("%w: tables named _tandem_* belong to Tandem", ErrReserved)
		}
	}
	nondet := nondeterministic(sql)
	if nondet != "" && w.format == FormatStatement {
		return fmt.Errorf("%w: %s could give a different value on a replica, so the statement payload format cannot log it; pass the value as a parameter, or use the row or mixed format", ErrNondeterministic, nondet)
	}
	if err := bind(s, args); err != nil {
		return err
	}
	read := class != classDDL && readOnly(w.conn, s)
	mark := len(w.cap.ops)
	w.cap.err, w.cap.rows = nil, 0
	if err := step(w.conn, s, res, false); err != nil {
		return err
	}
	if w.cap.err != nil {
		return w.cap.err
	}
	if read {
		return nil
	}
	res.LastInsertID = w.conn.LastInsertRowID()
	if class == classDDL {
		w.cap.ops = append(w.cap.ops[:mark], op{kind: opDDL, sql: sql, args: args.Args, named: args.Named})
		w.ddl = true
		if err := w.reloadSchema(); err != nil {
			return err
		}
	} else {
		res.RowsAffected = int64(w.conn.Changes())
		w.cap.ops = append(w.cap.ops, op{kind: opStmt, sql: sql, args: args.Args, named: args.Named})
	}
	if nondet != "" && st.nondet == "" {
		st.nondet = nondet
	}
	if w.cap.noPK != "" && st.noPK == "" {
		st.noPK = w.cap.noPK
	}
	st.ops = len(w.cap.ops)
	switch {
	case w.format == FormatRow && st.noPK != "":
		return fmt.Errorf("%w: table %s: the row payload format logs changes by primary key, so it cannot replicate this table's rows; add a PRIMARY KEY, or use the mixed payload format", ErrNoPrimaryKey, st.noPK)
	case w.format == FormatMixed && st.noPK != "" && st.nondet != "":
		return fmt.Errorf("%w: this transaction writes table %s, which has no PRIMARY KEY (so it must be logged as statements), and uses %s (so it must be logged as rows); pass the value as a parameter or add a PRIMARY KEY",
			ErrNondeterministic, st.noPK, st.nondet)
	}
	return nil
}

// buildPayload encodes the captured steps in the configured format.
func (w *Writer) buildPayload(txn *Txn, st *txnState) ([]byte, error) {
	rows := w.format == FormatRow || (w.format == FormatMixed && st.nondet != "")
	var entries []payload.Entry
	w.builder.Reset()
	w.buf = w.buf[:0]
	flush := func() error {
		if w.builder.Empty() {
			w.builder.Reset()
			return nil
		}
		start := len(w.buf)
		var err error
		if w.buf, err = w.builder.AppendTo(w.buf); err != nil {
			return err
		}
		entries = append(entries, payload.Entry{Type: payload.TypeChangeset, Changeset: w.buf[start:]})
		txn.Rows = true
		w.builder.Reset()
		return nil
	}
	for i := range w.cap.ops {
		o := &w.cap.ops[i]
		var err error
		switch {
		case o.kind == opDDL:
			if err = flush(); err == nil {
				entries = append(entries, payload.Entry{Type: payload.TypeDDL, SQL: o.sql, Args: o.args, Named: o.named})
				txn.DDL = true
			}
		case o.kind == opRow && rows:
			switch o.change {
			case changeset.OpInsert:
				err = w.builder.Insert(o.table.table, o.new)
			case changeset.OpDelete:
				err = w.builder.Delete(o.table.table, o.old)
			default:
				err = w.builder.Update(o.table.table, o.old, o.new)
			}
		case o.kind == opStmt && !rows:
			entries = append(entries, payload.Entry{Type: payload.TypeStatement, SQL: o.sql, Args: o.args, Named: o.named})
			txn.Statements = true
		}
		if err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, nil
	}
	return payload.Append(nil, entries)
}

// cleanError drops the driver's prefixes so clients see SQLite's message,
// as rqlite shows it.
func cleanError(err error) string {
	msg := err.Error()
	for _, p := range []string{"sqlite: step: ", "sqlite: prepare: ", "sqlite: ", "constraint failed: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}
