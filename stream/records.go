package stream

import (
	"encoding/binary"
	"time"
	"unicode/utf8"

	"github.com/tandem-db/tandem/lsn"
	"github.com/tandem-db/tandem/rlog"
)

// Records carries Count log records back to back, each exactly as
// rlog.AppendRecord encodes it (CRC included), in LSN order.
type Records struct {
	Count uint32
	Data  []byte
}

// Type returns TypeRecords.
func (*Records) Type() MsgType { return TypeRecords }

// AppendBinary appends the encoding of m to b.
func (m *Records) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, m.Count)
	return append(b, m.Data...), nil
}

// UnmarshalBinary decodes b into m. Data aliases b. The records themselves
// are checked by Decode.
func (m *Records) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeRecords}
	m.Count = d.u32("count")
	if d.err == nil && m.Count == 0 {
		d.fail("no records")
	}
	m.Data = d.b[:len(d.b):len(d.b)]
	return d.err
}

// Decode decodes and verifies every record: its CRC and format (through
// rlog.DecodeRecord), that each starts where the previous one ends, and
// that exactly Count records fill Data. On any error no record is returned.
// The records' payloads alias Data.
func (m *Records) Decode() ([]*rlog.Record, error) {
	if m.Count == 0 {
		return nil, protocolErr("Records: no records")
	}
	// Every record takes at least RecordOverhead bytes: bound the
	// allocation by what Data can hold.
	if uint64(m.Count) > uint64(len(m.Data)/rlog.RecordOverhead) {
		return nil, protocolErr("Records: %d records cannot fit in %d bytes", m.Count, len(m.Data))
	}
	recs := make([]*rlog.Record, 0, m.Count)
	b := m.Data
	for i := range m.Count {
		rec, n, err := rlog.DecodeRecord(b)
		if err != nil {
			return nil, protocolErr("Records: record %d of %d: %v", i+1, m.Count, err)
		}
		if i > 0 {
			if prev := recs[i-1]; rec.LSN != prev.End() {
				return nil, protocolErr("Records: record %d is at LSN %s, want %s right after the previous one", i+1, rec.LSN, prev.End())
			}
		}
		recs = append(recs, &rec)
		b = b[n:]
	}
	if len(b) != 0 {
		return nil, protocolErr("Records: %d bytes after the last of %d records", len(b), m.Count)
	}
	return recs, nil
}

// Heartbeat tells an idle replica the upstream is alive, how far its log is
// durable, and its term.
type Heartbeat struct {
	Durable lsn.LSN   // the upstream's durable end
	Time    time.Time // the upstream's clock, unix nanoseconds on the wire
	Term    uint64    // the upstream's current term
	// PrimaryHTTP is the primary's client API address as the upstream
	// knows it now; it changes when the primary moves.
	PrimaryHTTP string
	// Sync says whether a commit on the primary may wait for this
	// replica's acks. An asynchronous replica may batch its fsyncs and
	// applies, trading a few milliseconds of lag for much less CPU.
	Sync bool
	// ApplySync says commits may wait for this replica to apply
	// (remote_apply is in use); without it a synchronous replica may
	// batch its applies, though it still flushes and acks at once.
	ApplySync bool
}

const (
	heartbeatSync      = 1 << 0
	heartbeatApplySync = 1 << 1
)

// Type returns TypeHeartbeat.
func (*Heartbeat) Type() MsgType { return TypeHeartbeat }

// AppendBinary appends the encoding of m to b.
func (m *Heartbeat) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, uint64(m.Durable))
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(m.Time)))
	b = binary.BigEndian.AppendUint64(b, m.Term)
	addr := m.PrimaryHTTP
	if len(addr) > MaxIDLength || !utf8.ValidString(addr) {
		addr = ""
	}
	b = append(append(b, byte(len(addr))), addr...)
	return append(b, boolFlag(m.Sync, heartbeatSync)|boolFlag(m.ApplySync, heartbeatApplySync)), nil
}

// UnmarshalBinary decodes b into m.
func (m *Heartbeat) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeHeartbeat}
	m.Durable = lsn.LSN(d.u64("durable LSN"))
	m.Time = fromUnixNano(int64(d.u64("time")))
	m.Term = d.u64("term")
	m.PrimaryHTTP = d.string8("primary HTTP address")
	f := d.flags(heartbeatSync | heartbeatApplySync)
	m.Sync, m.ApplySync = f&heartbeatSync != 0, f&heartbeatApplySync != 0
	return d.end()
}

// Ack reports a replica's positions, as in pg_stat_replication.
type Ack struct {
	Write lsn.LSN   // end of what the replica wrote to its log
	Flush lsn.LSN   // end of what it made durable
	Apply lsn.LSN   // end of what it applied to its database
	Time  time.Time // the replica's clock
}

// Type returns TypeAck.
func (*Ack) Type() MsgType { return TypeAck }

// AppendBinary appends the encoding of m to b.
func (m *Ack) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, uint64(m.Write))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Flush))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Apply))
	return binary.BigEndian.AppendUint64(b, uint64(unixNano(m.Time))), nil
}

// UnmarshalBinary decodes b into m.
func (m *Ack) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeAck}
	m.Write = lsn.LSN(d.u64("write LSN"))
	m.Flush = lsn.LSN(d.u64("flush LSN"))
	m.Apply = lsn.LSN(d.u64("apply LSN"))
	m.Time = fromUnixNano(int64(d.u64("time")))
	return d.end()
}

// SeedStart opens a seed: Size bytes of SQLite database follow in
// SeedChunks, matching the log at LSN.
type SeedStart struct {
	Size int64
	LSN  lsn.LSN
}

// Type returns TypeSeedStart.
func (*SeedStart) Type() MsgType { return TypeSeedStart }

// AppendBinary appends the encoding of m to b.
func (m *SeedStart) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	return binary.BigEndian.AppendUint64(b, uint64(m.LSN)), nil
}

// UnmarshalBinary decodes b into m.
func (m *SeedStart) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeSeedStart}
	size := d.u64("size")
	if d.err == nil && size > 1<<62 {
		d.fail("seed size %d is not plausible", size)
	}
	m.Size = int64(size)
	m.LSN = lsn.LSN(d.u64("LSN"))
	return d.end()
}

// SeedChunk carries the next bytes of a seed.
type SeedChunk struct{ Data []byte }

// Type returns TypeSeedChunk.
func (*SeedChunk) Type() MsgType { return TypeSeedChunk }

// AppendBinary appends the encoding of m to b.
func (m *SeedChunk) AppendBinary(b []byte) ([]byte, error) { return append(b, m.Data...), nil }

// UnmarshalBinary decodes b into m. Data aliases b.
func (m *SeedChunk) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return protocolErr("SeedChunk: empty")
	}
	m.Data = b[:len(b):len(b)]
	return nil
}

// SeedEnd closes a seed with the SHA-256 of all its bytes.
type SeedEnd struct{ SHA256 [32]byte }

// Type returns TypeSeedEnd.
func (*SeedEnd) Type() MsgType { return TypeSeedEnd }

// AppendBinary appends the encoding of m to b.
func (m *SeedEnd) AppendBinary(b []byte) ([]byte, error) { return append(b, m.SHA256[:]...), nil }

// UnmarshalBinary decodes b into m.
func (m *SeedEnd) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeSeedEnd}
	d.bytes(m.SHA256[:], "SHA-256")
	return d.end()
}

// unixNano is t in unix nanoseconds; the zero time is 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano reverses unixNano.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
