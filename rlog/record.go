package rlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/hlc"
	"github.com/tandem-db/tandem/lsn"
)

// Record format constants; see the package documentation for the layout.
const (
	// RecordVersion is the record format version this build writes.
	RecordVersion = 1
	// RecordOverhead is the encoded size of a record with an empty payload:
	// the 8-byte frame header plus the 52-byte fixed body.
	RecordOverhead = frameHeaderSize + bodyFixedSize
	// MaxRecordSize is the largest encoded record, frame header included.
	MaxRecordSize = 64 << 20
	// MaxPayloadSize is the largest payload a record can carry.
	MaxPayloadSize = MaxRecordSize - RecordOverhead

	frameHeaderSize = 8  // u32 length, u32 CRC
	bodyFixedSize   = 52 // version .. HLC
	bodyLSNOffset   = 4  // offset of the LSN field within the body
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcOf returns the CRC32C of b.
func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Kind says how a record's payload is to be applied.
type Kind uint8

// Record kinds.
const (
	// KindRow is a SQLite session changeset, the default.
	KindRow Kind = 1
	// KindStatement is SQL text plus arguments.
	KindStatement Kind = 2
	// KindMixed is statement form where that is safe, row form otherwise.
	KindMixed Kind = 3
	// KindDDL is a schema change, replicated in order.
	KindDDL Kind = 4
)

var kindNames = [...]string{KindRow: "row", KindStatement: "statement", KindMixed: "mixed", KindDDL: "ddl"}

// String returns the kind's name ("row", "statement", "mixed", "ddl").
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindRow && k <= KindDDL }

// ParseKind reads a kind name as printed by String.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name != "" && name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("rlog: unknown record kind %q: want row, statement, mixed or ddl", s)
}

// Record is one entry of the replication log: one transaction.
type Record struct {
	LSN     lsn.LSN       // position of the record; assigned by Log.Append
	Term    uint64        // term of the primary that wrote it
	GTID    gtid.GTID     // origin and sequence number of the transaction
	HLC     hlc.Timestamp // commit timestamp at the origin
	Kind    Kind          // how Payload is applied
	Payload []byte        // changeset, statement or DDL, per Kind
}

// Size returns the number of bytes the record takes in the log.
func (r *Record) Size() int { return RecordOverhead + len(r.Payload) }

// End returns the LSN just after the record, where the next one starts.
func (r *Record) End() lsn.LSN { return r.LSN + lsn.LSN(r.Size()) }

// AppendRecord appends the encoding of r to dst and returns the extended
// slice. It does not check r.Size against MaxRecordSize; Log.Append does.
func AppendRecord(dst []byte, r *Record) []byte {
	dst = slices.Grow(dst, r.Size())
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize)...) // filled in below
	body := len(dst)
	dst = append(dst, RecordVersion, byte(r.Kind), 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.LSN))
	dst = binary.BigEndian.AppendUint64(dst, r.Term)
	dst = append(dst, r.GTID.Origin[:]...)
	dst = binary.BigEndian.AppendUint64(dst, r.GTID.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.HLC))
	dst = append(dst, r.Payload...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-body))
	binary.BigEndian.PutUint32(dst[start+4:], crcOf(dst[body:]))
	return dst
}

// DecodeRecord decodes the record at the start of b and returns it with the
// number of bytes it took. The returned Payload aliases b: copy it if b is
// reused. Errors wrap ErrTruncated when b ends inside the record, ErrTooLarge
// when the length field exceeds MaxRecordSize, ErrBadVersion for an unknown
// format version, and ErrCorrupt for any other verification failure.
func DecodeRecord(b []byte) (Record, int, error) {
	n, err := frameLen(b)
	if err != nil {
		return Record{}, 0, err
	}
	body := b[frameHeaderSize:n]
	if got, want := crcOf(body), binary.BigEndian.Uint32(b[4:]); got != want {
		return Record{}, 0, fmt.Errorf("%w: CRC mismatch: computed %08x, stored %08x", ErrCorrupt, got, want)
	}
	if v := body[0]; v != RecordVersion {
		return Record{}, 0, fmt.Errorf("%w: record version %d, this build reads %d", ErrBadVersion, v, RecordVersion)
	}
	k := Kind(body[1])
	if !k.Valid() {
		return Record{}, 0, fmt.Errorf("%w: unknown record kind %d", ErrCorrupt, body[1])
	}
	if f := binary.BigEndian.Uint16(body[2:]); f != 0 {
		return Record{}, 0, fmt.Errorf("%w: unknown record flags %#04x", ErrCorrupt, f)
	}
	r := Record{
		Kind:    k,
		LSN:     lsn.LSN(binary.BigEndian.Uint64(body[4:])),
		Term:    binary.BigEndian.Uint64(body[12:]),
		HLC:     hlc.Timestamp(binary.BigEndian.Uint64(body[44:])),
		Payload: body[bodyFixedSize:len(body):len(body)],
	}
	copy(r.GTID.Origin[:], body[20:36])
	r.GTID.Seq = binary.BigEndian.Uint64(body[36:])
	return r, n, nil
}

// frameLen validates the frame header at the start of b and returns the
// full encoded length of the record, checking that b holds all of it.
func frameLen(b []byte) (int, error) {
	if len(b) < frameHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, want at least %d for the frame header", ErrTruncated, len(b), frameHeaderSize)
	}
	n, err := bodyLen(binary.BigEndian.Uint32(b))
	if err != nil {
		return 0, err
	}
	if len(b) < n {
		return 0, fmt.Errorf("%w: %d bytes, record needs %d", ErrTruncated, len(b), n)
	}
	return n, nil
}

// bodyLen checks a frame's length field and returns the full record size.
func bodyLen(length uint32) (int, error) {
	if int64(length) > MaxRecordSize-frameHeaderSize {
		return 0, fmt.Errorf("%w: body of %d bytes, limit is %d", ErrTooLarge, length, MaxRecordSize-frameHeaderSize)
	}
	if length < bodyFixedSize {
		return 0, fmt.Errorf("%w: body of %d bytes, shorter than the %d-byte fixed part", ErrCorrupt, length, bodyFixedSize)
	}
	return frameHeaderSize + int(length), nil
}
