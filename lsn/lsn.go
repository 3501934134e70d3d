package lsn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a byte position in a replication log stream.
type LSN uint64

// Errors returned by this package.
var (
	// ErrInvalid reports text or bytes that do not hold an LSN.
	ErrInvalid = errors.New("invalid LSN")
)

// String formats the LSN as "HIGH/LOW" in hexadecimal, e.g. "0/0000A3F0".
func (l LSN) String() string {
	return fmt.Sprintf("%X/%08X", uint32(l>>32), uint32(l))
}

// Parse reads an LSN printed by String, or a plain decimal number.
func Parse(s string) (LSN, error) {
	s = strings.TrimSpace(s)
	if hi, lo, ok := strings.Cut(s, "/"); ok {
		h, err1 := strconv.ParseUint(hi, 16, 32)
		l, err2 := strconv.ParseUint(lo, 16, 32)
		if err1 != nil || err2 != nil || hi == "" || lo == "" {
			return 0, fmt.Errorf("%w %q: want HIGH/LOW in hexadecimal, e.g. 0/0000A3F0", ErrInvalid, s)
		}
		return LSN(h<<32 | l), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: want HIGH/LOW in hexadecimal (0/0000A3F0) or a decimal number", ErrInvalid, s)
	}
	return LSN(v), nil
}

// MarshalText implements encoding.TextMarshaler, so JSON carries the printed form.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// MarshalBinary encodes the LSN as 8 big-endian bytes.
func (l LSN) MarshalBinary() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(l)), nil
}

// UnmarshalBinary decodes 8 big-endian bytes.
func (l *LSN) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("%w: %d bytes, want 8", ErrInvalid, len(b))
	}
	*l = LSN(binary.BigEndian.Uint64(b))
	return nil
}

// Sub returns the number of bytes from o to l, or 0 when o is ahead of l.
func (l LSN) Sub(o LSN) uint64 {
	if o >= l {
		return 0
	}
	return uint64(l - o)
}
