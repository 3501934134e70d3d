package payload

import (
	"errors"
	"fmt"
	"sort"

	"github.com/tandem-db/tandem/changeset"
)

// Errors returned by this package.
var (
	// ErrCorrupt reports bytes that are not a well-formed payload.
	ErrCorrupt = errors.New("corrupt transaction payload")
)

const version = 0x01

// Type says what an entry holds.
type Type uint8

// Entry types.
const (
	TypeChangeset Type = 0x01
	TypeStatement Type = 0x02
	TypeDDL       Type = 0x03
)

// String names the type.
func (t Type) String() string {
	switch t {
	case TypeChangeset:
		return "changeset"
	case TypeStatement:
		return "statement"
	case TypeDDL:
		return "ddl"
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}

// Entry is one step of a transaction.
type Entry struct {
	Type      Type
	Changeset []byte         // TypeChangeset
	SQL       string         // TypeStatement, TypeDDL
	Args      []any          // positional parameters
	Named     map[string]any // named parameters, keys as written (":id")
}

// Append encodes entries after a version byte and appends them to dst.
func Append(dst []byte, entries []Entry) ([]byte, error) {
	dst = append(dst, version)
	var err error
	for i := range entries {
		e := &entries[i]
		dst = append(dst, byte(e.Type))
		switch e.Type {
		case TypeChangeset:
			dst = changeset.AppendVarint(dst, uint64(len(e.Changeset)))
			dst = append(dst, e.Changeset...)
		case TypeStatement, TypeDDL:
			if dst, err = appendStatement(dst, e); err != nil {
				return dst, fmt.Errorf("entry %d: %w", i, err)
			}
		default:
			return dst, fmt.Errorf("entry %d: unknown type %v", i, e.Type)
		}
	}
	return dst, nil
}

func appendStatement(dst []byte, e *Entry) ([]byte, error) {
	var err error
	dst = appendString(dst, e.SQL)
	dst = changeset.AppendVarint(dst, uint64(len(e.Args)))
	for _, a := range e.Args {
		if dst, err = changeset.AppendValue(dst, a); err != nil {
			return dst, err
		}
	}
	names := make([]string, 0, len(e.Named))
	for k := range e.Named {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic bytes
	dst = changeset.AppendVarint(dst, uint64(len(names)))
	for _, k := range names {
		dst = appendString(dst, k)
		if dst, err = changeset.AppendValue(dst, e.Named[k]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	dst = changeset.AppendVarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Decode reads a payload.
func Decode(b []byte) ([]Entry, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != version {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrCorrupt, b[0], version)
	}
	d := decoder{b: b, pos: 1}
	var out []Entry
	for d.pos < len(b) {
		e := Entry{Type: Type(b[d.pos])}
		d.pos++
		switch e.Type {
		case TypeChangeset:
			e.Changeset = []byte(d.bytes())
		case TypeStatement, TypeDDL:
			e.SQL = d.bytes()
			n := d.count()
			for i := 0; i < n && d.err == nil; i++ {
				e.Args = append(e.Args, d.value())
			}
			n = d.count()
			for i := 0; i < n && d.err == nil; i++ {
				if e.Named == nil {
					e.Named = make(map[string]any, n)
				}
				k := d.bytes()
				e.Named[k] = d.value()
			}
		default:
			return nil, fmt.Errorf("%w: unknown entry type 0x%02x at byte %d", ErrCorrupt, uint8(e.Type), d.pos-1)
		}
		if d.err != nil {
			return nil, fmt.Errorf("%w: entry %d (%v) at byte %d: %v", ErrCorrupt, len(out), e.Type, d.pos, d.err)
		}
		out = append(out, e)
	}
	return out, nil
}

type decoder struct {
	b   []byte
	pos int
	err error
}

func (d *decoder) count() int {
	if d.err != nil {
		return 0
	}
	n, k := changeset.Varint(d.b[d.pos:])
	if k == 0 || n > uint64(len(d.b)-d.pos) {
		d.err = errors.New("bad count")
		return 0
	}
	d.pos += k
	return int(n)
}

func (d *decoder) bytes() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	if n > len(d.b)-d.pos {
		d.err = errors.New("length runs past the end")
		return ""
	}
	s := string(d.b[d.pos : d.pos+n])
	d.pos += n
	return s
}

func (d *decoder) value() any {
	if d.err != nil {
		return nil
	}
	v, n, err := changeset.DecodeValue(d.b[d.pos:])
	if err != nil {
		d.err = err
		return nil
	}
	if _, ok := v.(changeset.Undefined); ok {
		d.err = errors.New("undefined value in statement arguments")
		return nil
	}
	d.pos += n
	return v
}
