package gtid

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors returned by this package.
var (
	// ErrInvalid reports text that does not hold a UUID or GTID.
	ErrInvalid = errors.New("invalid GTID")
)

// UUID identifies a node, the origin of the transactions it commits.
type UUID [16]byte

// NewUUID returns a random (version 4) UUID.
func NewUUID() UUID {
	var u UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// String prints the UUID in its canonical 8-4-4-4-12 form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:16])
	return string(b[:])
}

// IsZero reports whether u is the zero UUID.
func (u UUID) IsZero() bool { return u == UUID{} }

// ParseUUID reads the canonical form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	s = strings.TrimSpace(s)
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%w: UUID %q: want 8-4-4-4-12 hexadecimal digits", ErrInvalid, s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return UUID{}, fmt.Errorf("%w: UUID %q: %v", ErrInvalid, s, err)
	}
	return u, nil
}

// GTID is one transaction's global identifier.
type GTID struct {
	Origin UUID
	Seq    uint64
}

// String prints "origin-uuid:seq".
func (g GTID) String() string { return g.Origin.String() + ":" + strconv.FormatUint(g.Seq, 10) }

// IsZero reports whether g is unset.
func (g GTID) IsZero() bool { return g == GTID{} }

// Parse reads "origin-uuid:seq".
func Parse(s string) (GTID, error) {
	u, seq, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return GTID{}, fmt.Errorf("%w %q: want origin-uuid:seq", ErrInvalid, s)
	}
	origin, err := ParseUUID(u)
	if err != nil {
		return GTID{}, err
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || n == 0 {
		return GTID{}, fmt.Errorf("%w %q: sequence must be a positive integer", ErrInvalid, s)
	}
	return GTID{Origin: origin, Seq: n}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (g GTID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *GTID) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}
