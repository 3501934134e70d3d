package stream

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Limits on the strings in messages.
const (
	// MaxIDLength is the longest node ID or role a Hello or Challenge carries.
	MaxIDLength = 255
	// MaxErrorMessage is the longest Error message; longer ones are cut.
	MaxErrorMessage = 4 << 10
)

// Message is one protocol message. Encodings are canonical: decoding then
// encoding gives back the same bytes, so a MAC can be computed over them.
type Message interface {
	// Type returns the message's type, written in the frame header.
	Type() MsgType
	// AppendBinary appends the message's payload encoding to b.
	AppendBinary(b []byte) ([]byte, error)
	// UnmarshalBinary decodes a payload. Errors wrap ErrProtocol.
	UnmarshalBinary(b []byte) error
}

// newMessage returns an empty message of type t.
func newMessage(t MsgType) (Message, error) {
	switch t {
	case TypeChallenge:
		return new(Challenge), nil
	case TypeHello:
		return new(Hello), nil
	case TypeWelcome:
		return new(Welcome), nil
	case TypeError:
		return new(Error), nil
	case TypeRecords:
		return new(Records), nil
	case TypeHeartbeat:
		return new(Heartbeat), nil
	case TypeAck:
		return new(Ack), nil
	case TypeSeedStart:
		return new(SeedStart), nil
	case TypeSeedChunk:
		return new(SeedChunk), nil
	case TypeSeedEnd:
		return new(SeedEnd), nil
	}
	return nil, protocolErr("unknown message type %d", uint8(t))
}

// decodeMessage decodes a payload of type t.
func decodeMessage(t MsgType, payload []byte) (Message, error) {
	m, err := newMessage(t)
	if err != nil {
		return nil, err
	}
	if err := m.UnmarshalBinary(payload); err != nil {
		return nil, err
	}
	return m, nil
}

// appendString8 appends a string with a u8 length prefix.
func appendString8(b []byte, what, s string) ([]byte, error) {
	if len(s) > MaxIDLength {
		return b, fmt.Errorf("stream: %s of %d bytes is longer than %d", what, len(s), MaxIDLength)
	}
	if !utf8.ValidString(s) {
		return b, fmt.Errorf("stream: %s %q is not valid UTF-8", what, s)
	}
	return append(append(b, byte(len(s))), s...), nil
}

// decoder reads fields off a payload. The first problem sticks; later
// reads return zero values.
type decoder struct {
	b   []byte
	msg MsgType
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = protocolErr("%s: %s", d.msg, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated at %s: %d bytes left, need %d", what, len(d.b), n)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) uint8 {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if v := d.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) bytes(dst []byte, what string) {
	copy(dst, d.take(len(dst), what))
}

func (d *decoder) string8(what string) string { return d.str(int(d.u8(what)), what) }

func (d *decoder) string16(what string, limit int) string {
	n := int(d.u16(what))
	if n > limit {
		d.fail("%s of %d bytes is longer than %d", what, n, limit)
	}
	return d.str(n, what)
}

func (d *decoder) str(n int, what string) string {
	v := d.take(n, what)
	if d.err == nil && !utf8.Valid(v) {
		d.fail("%s is not valid UTF-8", what)
	}
	return string(v)
}

// flags reads a flags byte and checks that no unknown bit is set.
func (d *decoder) flags(known uint8) uint8 {
	f := d.u8("flags")
	if f&^known != 0 {
		d.fail("unknown flags %#02x", f)
	}
	return f
}

// version reads the protocol version and refuses any but ours.
func (d *decoder) version() {
	v := d.u16("version")
	if d.err == nil && v != ProtocolVersion {
		d.err = Errorf(CodeVersionMismatch, "%s speaks stream protocol version %d, this build speaks %d: run the same Tandem version on both nodes", d.msg, v, ProtocolVersion)
	}
}

// end checks that the whole payload was used.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d unexpected trailing bytes", len(d.b))
	}
	return d.err
}
