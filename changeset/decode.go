package changeset

import (
	"bytes"
	"fmt"
)

// Change is one decoded change. Old is nil for an INSERT, New for a DELETE.
type Change struct {
	Op       Op
	Indirect bool
	Old, New []any
}

// Iterate decodes a changeset and calls fn for every change in order. The
// *Table passed to fn stays the same for every change of one table block.
// It stops at the first error, from the input or from fn.
func Iterate(b []byte, fn func(t *Table, c *Change) error) error {
	var t *Table
	pos := 0
	for pos < len(b) {
		if b[pos] == 'T' {
			nt, n, err := decodeTableHeader(b[pos:])
			if err != nil {
				return fmt.Errorf("at byte %d: %w", pos, err)
			}
			t, pos = nt, pos+n
			continue
		}
		if t == nil {
			return fmt.Errorf("%w: change at byte %d comes before any table header", ErrCorrupt, pos)
		}
		c, n, err := decodeChange(b[pos:], t)
		if err != nil {
			return fmt.Errorf("table %s, at byte %d: %w", t.Name, pos, err)
		}
		pos += n
		if err := fn(t, c); err != nil {
			return err
		}
	}
	return nil
}

func decodeTableHeader(b []byte) (*Table, int, error) {
	nCol, k := Varint(b[1:])
	if k == 0 || nCol == 0 || nCol > 32767 {
		return nil, 0, fmt.Errorf("%w: bad column count in table header", ErrCorrupt)
	}
	pos := 1 + k
	if uint64(len(b)-pos) < nCol {
		return nil, 0, fmt.Errorf("%w: table header cut short", ErrCorrupt)
	}
	pk := append([]uint8{}, b[pos:pos+int(nCol)]...)
	pos += int(nCol)
	end := bytes.IndexByte(b[pos:], 0)
	if end <= 0 {
		return nil, 0, fmt.Errorf("%w: table name missing or unterminated", ErrCorrupt)
	}
	name := string(b[pos : pos+end])
	return &Table{Name: name, PK: pk}, pos + end + 1, nil
}

func decodeChange(b []byte, t *Table) (*Change, int, error) {
	if len(b) < 2 {
		return nil, 0, fmt.Errorf("%w: change cut short", ErrCorrupt)
	}
	c := &Change{Op: Op(b[0]), Indirect: b[1] != 0}
	if b[1] > 1 {
		return nil, 0, fmt.Errorf("%w: indirect flag 0x%02x", ErrCorrupt, b[1])
	}
	pos := 2
	var err error
	read := func() ([]any, error) {
		row := make([]any, len(t.PK))
		for i := range row {
			v, n, err := DecodeValue(b[pos:])
			if err != nil {
				return nil, err
			}
			row[i], pos = v, pos+n
		}
		return row, nil
	}
	switch c.Op {
	case OpInsert:
		c.New, err = read()
	case OpDelete:
		c.Old, err = read()
	case OpUpdate:
		if c.Old, err = read(); err == nil {
			c.New, err = read()
		}
	default:
		return nil, 0, fmt.Errorf("%w: unknown operation 0x%02x", ErrCorrupt, b[0])
	}
	if err != nil {
		return nil, 0, err
	}
	return c, pos, nil
}

// TableSummary counts one table's changes in a changeset.
type TableSummary struct {
	Table                     Table
	Inserts, Updates, Deletes int
}

// Rows returns the number of changed rows.
func (s TableSummary) Rows() int { return s.Inserts + s.Updates + s.Deletes }

// Summarize decodes a changeset and counts changes per table, in the order
// the tables first appear.
func Summarize(b []byte) ([]TableSummary, error) {
	var out []TableSummary
	var last *Table
	err := Iterate(b, func(t *Table, c *Change) error {
		if t != last {
			out = append(out, TableSummary{Table: *t})
			last = t
		}
		s := &out[len(out)-1]
		switch c.Op {
		case OpInsert:
			s.Inserts++
		case OpUpdate:
			s.Updates++
		case OpDelete:
			s.Deletes++
		}
		return nil
	})
	return out, err
}

// Tables returns the table header of every table block in a changeset, in
// order, checking the framing of every change without decoding its values.
// It is the cheap pass an applier runs to check schemas first.
func Tables(b []byte) ([]Table, error) {
	var out []Table
	var t *Table
	pos := 0
	for pos < len(b) {
		if b[pos] == 'T' {
			nt, n, err := decodeTableHeader(b[pos:])
			if err != nil {
				return nil, fmt.Errorf("at byte %d: %w", pos, err)
			}
			out = append(out, *nt)
			t, pos = nt, pos+n
			continue
		}
		if t == nil {
			return nil, fmt.Errorf("%w: change at byte %d comes before any table header", ErrCorrupt, pos)
		}
		n, err := skipChange(b[pos:], len(t.PK))
		if err != nil {
			return nil, fmt.Errorf("table %s, at byte %d: %w", t.Name, pos, err)
		}
		pos += n
	}
	return out, nil
}

func skipChange(b []byte, nCol int) (int, error) {
	if len(b) < 2 || b[1] > 1 {
		return 0, fmt.Errorf("%w: change cut short or bad indirect flag", ErrCorrupt)
	}
	records := 1
	switch Op(b[0]) {
	case OpInsert, OpDelete:
	case OpUpdate:
		records = 2
	default:
		return 0, fmt.Errorf("%w: unknown operation 0x%02x", ErrCorrupt, b[0])
	}
	pos := 2
	for range records * nCol {
		if pos >= len(b) {
			return 0, fmt.Errorf("%w: value missing at end of input", ErrCorrupt)
		}
		switch b[pos] {
		case typeUndefined, typeNull:
			pos++
		case typeInteger, typeReal:
			pos += 9
		case typeText, typeBlob:
			n, k := Varint(b[pos+1:])
			if k == 0 || n > uint64(len(b)-pos-1-k) {
				return 0, fmt.Errorf("%w: text or blob length runs past the end", ErrCorrupt)
			}
			pos += 1 + k + int(n)
		default:
			return 0, fmt.Errorf("%w: unknown value type 0x%02x", ErrCorrupt, b[pos])
		}
		if pos > len(b) {
			return 0, fmt.Errorf("%w: number cut short", ErrCorrupt)
		}
	}
	return pos, nil
}
