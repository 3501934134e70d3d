package changeset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Errors returned by this package.
var (
	// ErrCorrupt reports bytes that are not a well-formed changeset or value.
	ErrCorrupt = errors.New("corrupt changeset")
	// ErrBadValue reports a Go value that has no SQLite storage class.
	ErrBadValue = errors.New("value has no SQLite storage class")
)

// Undefined marks a value an UPDATE record does not carry.
type Undefined struct{}

// Value type bytes.
const (
	typeUndefined = 0x00
	typeInteger   = 0x01
	typeReal      = 0x02
	typeText      = 0x03
	typeBlob      = 0x04
	typeNull      = 0x05
)

// AppendValue appends v in changeset value encoding. It accepts nil, int64,
// float64, string, []byte, Undefined, and for convenience int, int32, bool.
func AppendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, typeNull), nil
	case Undefined:
		return append(dst, typeUndefined), nil
	case int64:
		return binary.BigEndian.AppendUint64(append(dst, typeInteger), uint64(x)), nil
	case int:
		return binary.BigEndian.AppendUint64(append(dst, typeInteger), uint64(int64(x))), nil
	case int32:
		return binary.BigEndian.AppendUint64(append(dst, typeInteger), uint64(int64(x))), nil
	case bool:
		var n uint64
		if x {
			n = 1
		}
		return binary.BigEndian.AppendUint64(append(dst, typeInteger), n), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, typeReal), math.Float64bits(x)), nil
	case string:
		dst = AppendVarint(append(dst, typeText), uint64(len(x)))
		return append(dst, x...), nil
	case []byte:
		dst = AppendVarint(append(dst, typeBlob), uint64(len(x)))
		return append(dst, x...), nil
	default:
		return dst, fmt.Errorf("%w: %T", ErrBadValue, v)
	}
}

// DecodeValue reads one value and returns it with the bytes consumed.
// Text and blob values are copied, so they do not alias b.
func DecodeValue(b []byte) (any, int, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("%w: value missing at end of input", ErrCorrupt)
	}
	switch b[0] {
	case typeUndefined:
		return Undefined{}, 1, nil
	case typeNull:
		return nil, 1, nil
	case typeInteger, typeReal:
		if len(b) < 9 {
			return nil, 0, fmt.Errorf("%w: %d-byte number cut short", ErrCorrupt, len(b)-1)
		}
		u := binary.BigEndian.Uint64(b[1:9])
		if b[0] == typeInteger {
			return int64(u), 9, nil
		}
		return math.Float64frombits(u), 9, nil
	case typeText, typeBlob:
		n, k := Varint(b[1:])
		if k == 0 || n > uint64(len(b)-1-k) {
			return nil, 0, fmt.Errorf("%w: text or blob length runs past the end", ErrCorrupt)
		}
		start := 1 + k
		data := b[start : start+int(n)]
		if b[0] == typeText {
			return string(data), start + int(n), nil
		}
		return append([]byte{}, data...), start + int(n), nil
	default:
		return nil, 0, fmt.Errorf("%w: unknown value type 0x%02x", ErrCorrupt, b[0])
	}
}

// AppendVarint appends v as an SQLite varint.
func AppendVarint(dst []byte, v uint64) []byte {
	if v <= 0x7f {
		return append(dst, byte(v))
	}
	if v&(uint64(0xff000000)<<32) != 0 {
		// Nine bytes: the last one carries 8 bits.
		var buf [9]byte
		buf[8] = byte(v)
		v >>= 8
		for i := 7; i >= 0; i-- {
			buf[i] = byte(v&0x7f) | 0x80
			v >>= 7
		}
		return append(dst, buf[:]...)
	}
	var buf [10]byte
	n := 0
	for v != 0 {
		buf[n] = byte(v&0x7f) | 0x80
		v >>= 7
		n++
	}
	buf[0] &= 0x7f
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, buf[i])
	}
	return dst
}

// Varint reads an SQLite varint; it returns the bytes read, 0 on bad input.
func Varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 8; i++ {
		if i >= len(b) {
			return 0, 0
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	if len(b) < 9 {
		return 0, 0
	}
	return v<<8 | uint64(b[8]), 9
}

// Equal reports whether two values are the same SQLite value.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (x != x && y != y))
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case Undefined:
		_, ok := b.(Undefined)
		return ok
	}
	return false
}
