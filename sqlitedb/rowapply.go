package sqlitedb

import (
	"fmt"
	"strings"

	"github.com/tandem-db/tandem/changeset"
	"zombiezen.com/go/sqlite"
)

// rowApplier applies changesets row by row with prepared statements kept
// across calls. It has the semantics of sqlite3changeset_apply with a
// conflict handler that aborts: an INSERT whose row exists, an UPDATE or
// DELETE whose row is missing or differs from the change's old values, or
// a constraint violation, fails the apply and names the conflict. What it
// saves is sqlite3changeset_apply's per-call work: preparing an INSERT, an
// UPDATE and a DELETE for every table of every changeset, which dominates
// when a replica applies small batches.
type rowApplier struct {
	conn  *sqlite.Conn
	stmts map[rowStmtKey]*sqlite.Stmt
}

type rowStmtKey struct {
	table *tableInfo
	op    changeset.Op
	mask  uint64 // UPDATE: the columns the change sets
}

// maxRowApplyCols is the widest table the row applier handles; wider
// tables go through sqlite3changeset_apply.
const maxRowApplyCols = 64

func newRowApplier(c *sqlite.Conn) *rowApplier {
	return &rowApplier{conn: c, stmts: make(map[rowStmtKey]*sqlite.Stmt)}
}

// reset finalizes the statements; the schema changed.
func (ra *rowApplier) reset() {
	for k, s := range ra.stmts {
		s.Finalize()
		delete(ra.stmts, k)
	}
}

// supports reports whether every table of the changeset fits the row applier.
func (ra *rowApplier) supports(tables []changeset.Table) bool {
	for i := range tables {
		if tables[i].NumCols() > maxRowApplyCols {
			return false
		}
	}
	return true
}

// apply applies a changeset whose tables have been checked against s.
func (ra *rowApplier) apply(s *schema, cs []byte) (string, error) {
	var ti *tableInfo
	var last *changeset.Table
	err := changeset.Iterate(cs, func(t *changeset.Table, c *changeset.Change) error {
		if t != last {
			last, ti = t, s.tables[t.Name]
		}
		return ra.change(ti, c)
	})
	if err != nil && last != nil {
		return last.Name, err
	}
	return "", err
}

func (ra *rowApplier) change(ti *tableInfo, c *changeset.Change) error {
	key := rowStmtKey{table: ti, op: c.Op}
	if c.Op == changeset.OpUpdate {
		for i, v := range c.New {
			if _, undef := v.(changeset.Undefined); !undef {
				key.mask |= 1 << i
			}
		}
		if key.mask == 0 {
			return nil // nothing to set
		}
	}
	st, err := ra.stmt(key)
	if err != nil {
		return err
	}
	defer func() { st.Reset(); st.ClearBindings() }()
	n := 1
	bindAll := func(vals []any, skipUndefined bool) error {
		for _, v := range vals {
			if _, undef := v.(changeset.Undefined); undef {
				if skipUndefined {
					continue
				}
				v = nil
			}
			if err := bindValue(st, n, v); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	switch c.Op {
	case changeset.OpInsert:
		err = bindAll(c.New, false)
	case changeset.OpDelete:
		err = bindAll(c.Old, false)
	case changeset.OpUpdate:
		if err = bindAll(c.New, true); err == nil {
			err = ra.bindWhere(st, &n, ti, key.mask, c.Old)
		}
	}
	if err != nil {
		return err
	}
	if _, err := st.Step(); err != nil {
		if sqlite.ErrCode(err).ToPrimary() != sqlite.ResultConstraint {
			// Not about the data (a full disk, an I/O error): keep SQLite's
			// error so the caller can tell it from a conflict.
			return fmt.Errorf("%s of a row in table %s: %w", c.Op, ti.name, err)
		}
		if c.Op == changeset.OpInsert && ra.exists(ti, c.New) {
			return fmt.Errorf("%w: INSERT of a row in table %s: %s", ErrConflict, ti.name, describeConflict(sqlite.ChangesetConflict))
		}
		return fmt.Errorf("%w: %s of a row in table %s: the change violates a constraint here (CONSTRAINT): %v", ErrConflict, c.Op, ti.name, err)
	}
	if c.Op != changeset.OpInsert && ra.conn.Changes() != 1 {
		kind := sqlite.ChangesetNotFound
		if ra.exists(ti, c.Old) {
			kind = sqlite.ChangesetData
		}
		return fmt.Errorf("%w: %s of a row in table %s: %s", ErrConflict, c.Op, ti.name, describeConflict(kind))
	}
	return nil
}

// bindWhere binds the old values an UPDATE's WHERE compares: the primary
// key and the columns the change sets, in column order.
func (ra *rowApplier) bindWhere(st *sqlite.Stmt, n *int, ti *tableInfo, mask uint64, old []any) error {
	for i, v := range old {
		if ti.table.PK[i] == 0 && mask&(1<<i) == 0 {
			continue
		}
		if _, undef := v.(changeset.Undefined); undef {
			return fmt.Errorf("%w: UPDATE of table %s lacks the old value of column %s", changeset.ErrCorrupt, ti.name, ti.cols[i])
		}
		if err := bindValue(st, *n, v); err != nil {
			return err
		}
		*n++
	}
	return nil
}

// exists reports whether a row with the primary key in row is present.
func (ra *rowApplier) exists(ti *tableInfo, row []any) bool {
	var where []string
	var args []any
	for i, p := range ti.table.PK {
		if p != 0 {
			where = append(where, quoteIdent(ti.cols[i])+" IS ?")
			args = append(args, row[i])
		}
	}
	st, _, err := ra.conn.PrepareTransient("SELECT 1 FROM main." + quoteIdent(ti.name) + " WHERE " + strings.Join(where, " AND "))
	if err != nil {
		return false
	}
	defer st.Finalize()
	for i, a := range args {
		if bindValue(st, i+1, a) != nil {
			return false
		}
	}
	found, err := st.Step()
	return err == nil && found
}

// stmt returns the cached statement for key, preparing it the first time.
// An UPDATE's WHERE compares the primary key and the old values of the
// columns it sets, as the changeset carries them.
func (ra *rowApplier) stmt(key rowStmtKey) (*sqlite.Stmt, error) {
	if st := ra.stmts[key]; st != nil {
		return st, nil
	}
	ti := key.table
	table := "main." + quoteIdent(ti.name)
	var b strings.Builder
	switch key.op {
	case changeset.OpInsert:
		b.WriteString("INSERT INTO " + table + " (")
		for i, c := range ti.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIdent(c))
		}
		b.WriteString(") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(ti.cols)), ", ") + ")")
	case changeset.OpDelete:
		b.WriteString("DELETE FROM " + table + " WHERE ")
		for i, c := range ti.cols {
			if i > 0 {
				b.WriteString(" AND ")
			}
			b.WriteString(quoteIdent(c) + " IS ?")
		}
	case changeset.OpUpdate:
		b.WriteString("UPDATE " + table + " SET ")
		first := true
		for i, c := range ti.cols {
			if key.mask&(1<<i) == 0 {
				continue
			}
			if !first {
				b.WriteString(", ")
			}
			first = false
			b.WriteString(quoteIdent(c) + " = ?")
		}
		b.WriteString(" WHERE ")
		first = true
		for i, c := range ti.cols {
			if ti.table.PK[i] == 0 && key.mask&(1<<i) == 0 {
				continue
			}
			if !first {
				b.WriteString(" AND ")
			}
			first = false
			b.WriteString(quoteIdent(c) + " IS ?")
		}
	default:
		return nil, fmt.Errorf("%w: unknown change operation %v", changeset.ErrCorrupt, key.op)
	}
	st, _, err := ra.conn.PrepareTransient(b.String())
	if err != nil {
		return nil, fmt.Errorf("prepare apply statement for table %s: %w", ti.name, err)
	}
	ra.stmts[key] = st
	return st, nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
