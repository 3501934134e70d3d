package stream

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/tandem-db/tandem/rlog"
)

// Frame layout constants; see the package documentation for the drawing.
const (
	// FrameOverhead is the size of a frame around its payload: the u32
	// length, type and flags before it, the u32 CRC after it.
	FrameOverhead = frameHeaderSize + 4
	// MaxFramePayload is the largest payload a frame may carry, compressed
	// or not. One Records message must hold any single log record, so it
	// is rlog.MaxRecordSize plus room for the message header.
	MaxFramePayload = rlog.MaxRecordSize + 64<<10

	frameHeaderSize = 6 // u32 length, u8 type, u8 flags

	// flagZstd marks a payload compressed with zstd.
	flagZstd = 1 << 0
	// knownFlags are the flag bits this version defines.
	knownFlags = flagZstd

	// readStep is how much payload buffer is allocated ahead of the bytes
	// that have actually arrived, so a length field alone cannot make the
	// reader allocate MaxFramePayload.
	readStep = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameCRC is the CRC32C of type, flags and payload.
func frameCRC(typ MsgType, flags uint8, payload []byte) uint32 {
	crc := crc32.Update(0, castagnoli, []byte{byte(typ), flags})
	return crc32.Update(crc, castagnoli, payload)
}

// frame is one frame as read off the wire. payload is still compressed
// when flags has flagZstd.
type frame struct {
	typ     MsgType
	flags   uint8
	payload []byte
}

// wireSize is the number of bytes the frame took on the wire.
func (f frame) wireSize() int { return FrameOverhead + len(f.payload) }

// appendFrame appends a frame holding payload to dst.
func appendFrame(dst []byte, typ MsgType, flags uint8, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, byte(typ), flags)
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, frameCRC(typ, flags, payload))
}

// readFrame reads one frame from r and verifies its length, type, flags and
// CRC, in that order, before anything in it is looked at. maxPayload caps
// the payload (MaxFramePayload in production). A short read is returned as
// io.ErrUnexpectedEOF, a clean end before the first byte as io.EOF; a bad
// frame wraps ErrProtocol. The payload is freshly allocated: the caller may
// keep slices of it.
func readFrame(r io.Reader, maxPayload int) (frame, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	f := frame{typ: MsgType(hdr[4]), flags: hdr[5]}
	if int64(n) > int64(maxPayload) {
		return frame{}, protocolErr("frame of %d bytes exceeds the %d-byte limit", n, maxPayload)
	}
	if !f.typ.valid() {
		return frame{}, protocolErr("unknown message type %d", hdr[4])
	}
	if f.flags&^knownFlags != 0 {
		return frame{}, protocolErr("unknown frame flags %#02x on %s", f.flags, f.typ)
	}
	payload, err := readPayload(r, int(n))
	if err != nil {
		return frame{}, err
	}
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return frame{}, noEOF(err)
	}
	if got, want := frameCRC(f.typ, f.flags, payload), binary.BigEndian.Uint32(tail[:]); got != want {
		return frame{}, protocolErr("%s frame of %d bytes: CRC mismatch: computed %08x, sent %08x", f.typ, n, got, want)
	}
	f.payload = payload
	return f, nil
}

// readPayload reads n bytes, growing the buffer only as data arrives.
func readPayload(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, readStep))
	for len(b) < n {
		step := min(n-len(b), max(len(b), readStep))
		if cap(b)-len(b) < step {
			nb := make([]byte, len(b), len(b)+step)
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(r, b[len(b):len(b)+step])
		b = b[:len(b)+m]
		if err != nil {
			return nil, noEOF(err)
		}
	}
	return b, nil
}

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// MsgType is a frame's message type.
type MsgType uint8

// Message types. Their payloads are drawn in the package documentation.
const (
	TypeChallenge MsgType = 1  // server → client, first frame
	TypeHello     MsgType = 2  // client → server, answers Challenge
	TypeWelcome   MsgType = 3  // server → client, accepts Hello
	TypeError     MsgType = 4  // either way: a refusal, then close
	TypeRecords   MsgType = 5  // server → client
	TypeHeartbeat MsgType = 6  // server → client
	TypeAck       MsgType = 7  // client → server
	TypeSeedStart MsgType = 8  // server → client
	TypeSeedChunk MsgType = 9  // server → client
	TypeSeedEnd   MsgType = 10 // server → client
)

var typeNames = [...]string{
	TypeChallenge: "Challenge", TypeHello: "Hello", TypeWelcome: "Welcome", TypeError: "Error",
	TypeRecords: "Records", TypeHeartbeat: "Heartbeat", TypeAck: "Ack",
	TypeSeedStart: "SeedStart", TypeSeedChunk: "SeedChunk", TypeSeedEnd: "SeedEnd",
}

func (t MsgType) valid() bool { return t >= TypeChallenge && t <= TypeSeedEnd }

// String returns the message type's name, e.g. "Records".
func (t MsgType) String() string {
	if t.valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// compressible reports whether payloads of type t may be compressed.
func (t MsgType) compressible() bool { return t == TypeRecords || t == TypeSeedChunk }
