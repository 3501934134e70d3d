package changeset

import (
	"fmt"
	"unsafe"
)

// Op is a change's operation, with SQLite's codes.
type Op uint8

// Operations.
const (
	OpInsert Op = 0x12
	OpUpdate Op = 0x17
	OpDelete Op = 0x09
)

// String names the operation.
func (o Op) String() string {
	switch o {
	case OpInsert:
		return "INSERT"
	case OpUpdate:
		return "UPDATE"
	case OpDelete:
		return "DELETE"
	}
	return fmt.Sprintf("Op(0x%02x)", uint8(o))
}

// Table describes a table as a changeset names it.
type Table struct {
	Name string
	// PK has one byte per column: its 1-based position in the primary key,
	// or 0 when the column is not part of it.
	PK []uint8
}

// NumCols returns the number of columns.
func (t *Table) NumCols() int { return len(t.PK) }

// HasPK reports whether any column is part of the primary key.
func (t *Table) HasPK() bool {
	for _, p := range t.PK {
		if p != 0 {
			return true
		}
	}
	return false
}

type rowChange struct {
	op       Op
	old, new []any
	dead     bool // net effect is nothing
}

type tableChanges struct {
	table *Table
	rows  []*rowChange
	byKey map[string]*rowChange
}

// Builder collects row changes and writes their net effect as a changeset.
// It is not safe for concurrent use. The zero value is ready to use.
type Builder struct {
	tables  []*tableChanges
	byTable map[string]*tableChanges
	keyBuf  []byte
}

// Reset forgets every change, keeping allocated memory.
func (b *Builder) Reset() {
	clear(b.byTable)
	b.tables = b.tables[:0]
}

func (b *Builder) tableFor(t *Table) *tableChanges {
	if b.byTable == nil {
		b.byTable = make(map[string]*tableChanges)
	}
	tc := b.byTable[t.Name]
	if tc == nil || tc.table != t {
		// A new *Table for a known name means the schema changed in the
		// middle of the transaction; the caller flushes before DDL, so a
		// fresh block is correct.
		tc = &tableChanges{table: t, byKey: make(map[string]*rowChange)}
		b.byTable[t.Name] = tc
		b.tables = append(b.tables, tc)
	}
	return tc
}

func (b *Builder) key(t *Table, row []any) (string, error) {
	b.keyBuf = b.keyBuf[:0]
	var err error
	for i, p := range t.PK {
		if p != 0 {
			if b.keyBuf, err = AppendValue(b.keyBuf, row[i]); err != nil {
				return "", err
			}
		}
	}
	return unsafe.String(unsafe.SliceData(b.keyBuf), len(b.keyBuf)), nil
}

// Insert records an inserted row. The builder keeps row.
func (b *Builder) Insert(t *Table, row []any) error {
	return b.add(t, OpInsert, nil, row)
}

// Delete records a deleted row. The builder keeps row.
func (b *Builder) Delete(t *Table, row []any) error {
	return b.add(t, OpDelete, row, nil)
}

// Update records an updated row with its full old and new values. An update
// that changes the primary key is recorded as a delete and an insert.
func (b *Builder) Update(t *Table, old, new []any) error {
	for i, p := range t.PK {
		if p != 0 && !Equal(old[i], new[i]) {
			if err := b.add(t, OpDelete, old, nil); err != nil {
				return err
			}
			return b.add(t, OpInsert, nil, new)
		}
	}
	return b.add(t, OpUpdate, old, new)
}

func (b *Builder) add(t *Table, op Op, old, new []any) error {
	row := new
	if op == OpDelete {
		row = old
	}
	if len(row) != len(t.PK) || (op == OpUpdate && len(old) != len(t.PK)) {
		return fmt.Errorf("%w: table %s has %d columns, row has %d", ErrBadValue, t.Name, len(t.PK), len(row))
	}
	tc := b.tableFor(t)
	k, err := b.key(t, row)
	if err != nil {
		return fmt.Errorf("table %s: %w", t.Name, err)
	}
	rc, ok := tc.byKey[k]
	if !ok || rc.dead {
		if ok && rc.dead {
			// Row came back after netting to nothing: an insert again.
			rc.op, rc.old, rc.new, rc.dead = op, old, new, false
			return nil
		}
		rc = &rowChange{op: op, old: old, new: new}
		tc.byKey[string([]byte(k))] = rc
		tc.rows = append(tc.rows, rc)
		return nil
	}
	switch {
	case rc.op == OpInsert && op == OpUpdate:
		rc.new = new
	case rc.op == OpInsert && op == OpDelete:
		rc.dead = true
	case rc.op == OpUpdate && op == OpUpdate:
		rc.new = new
	case rc.op == OpUpdate && op == OpDelete:
		rc.op, rc.new = OpDelete, nil
	case rc.op == OpDelete && op == OpInsert:
		rc.op, rc.new = OpUpdate, new
	default:
		// INSERT after INSERT, DELETE after DELETE and similar cannot
		// happen on one connection for one primary key.
		return fmt.Errorf("table %s: %s after %s of the same row", t.Name, op, rc.op)
	}
	return nil
}

// Empty reports whether the net effect is no change at all.
func (b *Builder) Empty() bool {
	for _, tc := range b.tables {
		for _, rc := range tc.rows {
			if !rc.dead && !(rc.op == OpUpdate && unchanged(rc.old, rc.new)) {
				return false
			}
		}
	}
	return true
}

func unchanged(old, new []any) bool {
	for i := range old {
		if !Equal(old[i], new[i]) {
			return false
		}
	}
	return true
}

// AppendTo appends the changeset of the net effect to dst.
func (b *Builder) AppendTo(dst []byte) ([]byte, error) {
	var err error
	for _, tc := range b.tables {
		headerAt := -1
		for _, rc := range tc.rows {
			if rc.dead || (rc.op == OpUpdate && unchanged(rc.old, rc.new)) {
				continue
			}
			if headerAt < 0 {
				headerAt = len(dst)
				dst = appendTableHeader(dst, tc.table)
			}
			dst = append(dst, byte(rc.op), 0)
			switch rc.op {
			case OpInsert:
				dst, err = appendRecord(dst, rc.new, nil)
			case OpDelete:
				dst, err = appendRecord(dst, rc.old, nil)
			case OpUpdate:
				if dst, err = appendUpdateOld(dst, tc.table, rc.old, rc.new); err == nil {
					dst, err = appendRecord(dst, rc.new, rc.old)
				}
			}
			if err != nil {
				return dst, fmt.Errorf("table %s: %w", tc.table.Name, err)
			}
		}
	}
	return dst, nil
}

func appendTableHeader(dst []byte, t *Table) []byte {
	dst = append(dst, 'T')
	dst = AppendVarint(dst, uint64(len(t.PK)))
	dst = append(dst, t.PK...)
	dst = append(dst, t.Name...)
	return append(dst, 0)
}

// appendRecord writes row; when cmp is set, values equal to cmp's are
// written as undefined (the new record of an UPDATE).
func appendRecord(dst []byte, row, cmp []any) ([]byte, error) {
	var err error
	for i, v := range row {
		if cmp != nil && Equal(v, cmp[i]) {
			dst = append(dst, typeUndefined)
			continue
		}
		if dst, err = AppendValue(dst, v); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendUpdateOld writes the old record of an UPDATE: primary key and
// changed columns, the rest undefined.
func appendUpdateOld(dst []byte, t *Table, old, new []any) ([]byte, error) {
	var err error
	for i, v := range old {
		if t.PK[i] == 0 && Equal(v, new[i]) {
			dst = append(dst, typeUndefined)
			continue
		}
		if dst, err = AppendValue(dst, v); err != nil {
			return dst, err
		}
	}
	return dst, nil
}
