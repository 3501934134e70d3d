// Package sqlitedb owns Tandem's SQLite database: one writer connection,
// used by one goroutine at a time, and a pool of read-only connections, all
// in WAL mode.
//
// The writer runs each client transaction in a SAVEPOINT inside a batch
// transaction and captures its effect in the order it happened: row changes
// through SQLite's pre-update hook, encoded in SQLite's changeset format
// (package changeset), and DDL and statements as text with their arguments.
// The payload format decides what a transaction's log record carries:
//
//   - row (default): changesets for row changes, DDL as statements. A write
//     to a table without a PRIMARY KEY is refused: SQLite's changeset
//     machinery cannot address its rows.
//   - statement: the SQL text and arguments. A statement whose result can
//     differ on another node (random(), datetime('now'), ...) is refused.
//   - mixed: statements, unless the transaction used a non-deterministic
//     construct; then changesets. A transaction that needs both (a
//     non-deterministic write to a table without a PRIMARY KEY) is refused.
//
// Trigger and foreign-key action effects are not captured: applying a
// change runs the same triggers and actions again on the other side.
//
// Apply replays records on the writer connection. It checks every table a
// changeset names against the local schema first, because SQLite's own
// apply silently skips changes for a missing table or a table with a
// different column count, and it fails on any conflict; nothing is skipped
// silently. The last applied LSN and GTID are written to the _tandem_meta
// table in the same SQLite transaction as the changes.
package sqlitedb

import (
	"errors"
	"fmt"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

// Errors returned by this package.
var (
	// ErrNoPrimaryKey reports a row-format write to a table without a
	// PRIMARY KEY.
	ErrNoPrimaryKey = errors.New("table has no PRIMARY KEY")
	// ErrNondeterministic reports a statement-format write whose result
	// could differ on another node.
	ErrNondeterministic = errors.New("non-deterministic statement")
	// ErrReserved reports a write to one of Tandem's own tables.
	ErrReserved = errors.New("reserved table")
	// ErrRefused reports a statement Tandem does not run for clients.
	ErrRefused = errors.New("statement not allowed")
	// ErrUnsupported reports a schema feature Tandem cannot replicate yet.
	ErrUnsupported = errors.New("not supported")
	// ErrSchema reports a change that does not fit the local schema.
	ErrSchema = errors.New("schema mismatch")
	// ErrConflict reports a change that conflicts with local data.
	ErrConflict = errors.New("apply conflict")
	// ErrClosed reports use after Close.
	ErrClosed = errors.New("database closed")
)

// SchemaError says which table does not match and how.
type SchemaError struct {
	Table  string
	Reason string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("schema mismatch on table %s: %s", e.Table, e.Reason)
}

// Unwrap returns ErrSchema.
func (e *SchemaError) Unwrap() error { return ErrSchema }

// ApplyError says which transaction could not be applied, and why.
type ApplyError struct {
	LSN   lsn.LSN // end LSN of the transaction's record
	GTID  gtid.GTID
	Table string
	Err   error
}

func (e *ApplyError) Error() string {
	where := ""
	if e.Table != "" {
		where = ", table " + e.Table
	}
	return fmt.Sprintf("apply transaction %s (record ending at LSN %s%s): %v; the applier stopped and applied nothing of this batch; fix the schema or data, or skip the transaction by its GTID",
		e.GTID, e.LSN, where, e.Err)
}

// Unwrap returns the cause.
func (e *ApplyError) Unwrap() error { return e.Err }
