package sqlitedb

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tandem-db/tandem/changeset"
	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/payload"
	"zombiezen.com/go/sqlite"
)

// ApplyTxn is a logged transaction to replay.
type ApplyTxn struct {
	End     lsn.LSN // end LSN of its record
	GTID    gtid.GTID
	Payload []byte
}

// Apply replays transactions in one SQLite transaction and records the last
// one as applied. On any error nothing of the batch stays, and the error is
// an *ApplyError naming the transaction.
func (w *Writer) Apply(txns []ApplyTxn) error {
	if len(txns) == 0 {
		return nil
	}
	if err := w.Begin(); err != nil {
		return err
	}
	for i := range txns {
		if table, err := w.applyOne(&txns[i]); err != nil {
			w.Rollback()
			return &ApplyError{LSN: txns[i].End, GTID: txns[i].GTID, Table: table, Err: err}
		}
	}
	last := &txns[len(txns)-1]
	if err := w.Commit(last.End, last.GTID); err != nil {
		w.Rollback()
		return &ApplyError{LSN: last.End, GTID: last.GTID, Err: err}
	}
	return nil
}

func (w *Writer) applyOne(t *ApplyTxn) (table string, err error) {
	entries, err := payload.Decode(t.Payload)
	if err != nil {
		return "", err
	}
	for i := range entries {
		e := &entries[i]
		switch e.Type {
		case payload.TypeChangeset:
			if table, err := w.applyChangeset(e.Changeset); err != nil {
				return table, err
			}
		case payload.TypeStatement, payload.TypeDDL:
			if err := w.applyStatement(e); err != nil {
				return "", fmt.Errorf("%s %q: %w", e.Type, e.SQL, err)
			}
			if e.Type == payload.TypeDDL {
				w.ddl = true
				if err := w.reloadSchema(); err != nil {
					return "", err
				}
			}
		}
	}
	return "", nil
}

func (w *Writer) applyChangeset(cs []byte) (string, error) {
	var last *changeset.Table
	err := changeset.Iterate(cs, func(t *changeset.Table, _ *changeset.Change) error {
		if t == last {
			return nil
		}
		last = t
		return w.cap.schema.check(t)
	})
	if err != nil {
		if last != nil {
			return last.Name, err
		}
		return "", err
	}
	var conflict error
	var table string
	err = w.conn.ApplyChangeset(bytes.NewReader(cs), nil, func(ct sqlite.ConflictType, it *sqlite.ChangesetIterator) sqlite.ConflictAction {
		if conflict == nil {
			if op, err := it.Operation(); err == nil {
				table = op.TableName
				conflict = fmt.Errorf("%w: %s of a row in table %s: %s", ErrConflict, op.Type, op.TableName, describeConflict(ct))
			} else {
				conflict = fmt.Errorf("%w: %s", ErrConflict, describeConflict(ct))
			}
		}
		return sqlite.ChangesetAbort
	})
	if conflict != nil {
		return table, conflict
	}
	if err != nil {
		return table, err
	}
	return "", nil
}

func describeConflict(ct sqlite.ConflictType) string {
	switch ct {
	case sqlite.ChangesetData:
		return "the row here differs from the row the change was made to (DATA)"
	case sqlite.ChangesetNotFound:
		return "the row does not exist here (NOTFOUND)"
	case sqlite.ChangesetConflict:
		return "a row with the same primary key already exists here (CONFLICT)"
	case sqlite.ChangesetConstraint:
		return "the change violates a constraint here (CONSTRAINT)"
	case sqlite.ChangesetForeignKey:
		return "the changes leave foreign key violations (FOREIGN_KEY)"
	}
	return ct.String()
}

// applyStatement runs a logged statement on the writer, without capture.
func (w *Writer) applyStatement(e *payload.Entry) error {
	stmt := command.Statement{SQL: e.SQL, Args: e.Args, Named: e.Named}
	sql, first := e.SQL, true
	for strings.TrimSpace(sql) != "" {
		s, rest, cached, err := w.stmts.prepare(sql)
		if err != nil {
			return err
		}
		if s == nil {
			break
		}
		args := &stmt
		if !first {
			args = &command.Statement{}
		}
		var res command.Result
		if err = bind(s, args); err == nil {
			err = step(w.conn, s, &res, false)
		}
		release(s, cached)
		if err != nil {
			return err
		}
		sql, first = rest, false
	}
	return nil
}
