package stream

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

// ProtocolVersion is the stream protocol version this build speaks. Peers
// of different versions refuse each other with CodeVersionMismatch.
const ProtocolVersion = 1

// NonceSize is the size of the handshake nonces and MACs.
const NonceSize = 32

// Challenge is the server's first message: who it is, and a fresh nonce the
// client must sign.
type Challenge struct {
	Version uint16    // ProtocolVersion
	NodeID  string    // the server node's ID
	UUID    gtid.UUID // the server node's UUID
	Term    uint64    // the server's current term
	Nonce   [NonceSize]byte
	Zstd    bool // the server can compress
}

const challengeZstd = 1 << 0

// Type returns TypeChallenge.
func (*Challenge) Type() MsgType { return TypeChallenge }

// AppendBinary appends the encoding of m to b.
func (m *Challenge) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, m.Version)
	b = append(b, boolFlag(m.Zstd, challengeZstd))
	b = append(b, m.UUID[:]...)
	b = binary.BigEndian.AppendUint64(b, m.Term)
	b = append(b, m.Nonce[:]...)
	return appendString8(b, "node ID", m.NodeID)
}

// UnmarshalBinary decodes b into m.
func (m *Challenge) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeChallenge}
	d.version()
	m.Version = ProtocolVersion
	m.Zstd = d.flags(challengeZstd)&challengeZstd != 0
	d.bytes(m.UUID[:], "UUID")
	m.Term = d.u64("term")
	d.bytes(m.Nonce[:], "nonce")
	m.NodeID = d.string8("node ID")
	return d.end()
}

// Hello is the client's answer to a Challenge: who the replica is, where it
// wants to start, and a MAC proving it knows the cluster secret.
type Hello struct {
	Version     uint16    // ProtocolVersion
	NodeID      string    // the replica's node ID; names its slot
	UUID        gtid.UUID // the replica's node UUID
	HighestTerm uint64    // the highest term the replica has seen
	// LastTerm is the term of the last record in the replica's log (0 when
	// it holds none): with Start it places the replica's log in the
	// upstream's term history, so a log that forked is refused.
	LastTerm uint64
	Seed     bool    // the replica's data directory is empty: send a seed
	Start    lsn.LSN // the next LSN the replica needs; 0 when Seed
	Zstd     bool    // the replica wants compression
	Role     string  // who the replica acts as; "replication" for now
	// Nonce is the client's fresh nonce, which the server signs in Welcome
	// to prove it knows the secret too.
	Nonce [NonceSize]byte
	// MAC is HMAC-SHA256(secret, challenge nonce || the encoding of the
	// Hello without MAC).
	MAC [NonceSize]byte
}

const (
	helloSeed = 1 << 0
	helloZstd = 1 << 1
)

// Type returns TypeHello.
func (*Hello) Type() MsgType { return TypeHello }

// AppendBinary appends the encoding of m to b.
func (m *Hello) AppendBinary(b []byte) ([]byte, error) {
	b, err := m.appendSigned(b)
	return append(b, m.MAC[:]...), err
}

// appendSigned appends the bytes the MAC covers: everything but the MAC.
func (m *Hello) appendSigned(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, m.Version)
	b = append(b, boolFlag(m.Seed, helloSeed)|boolFlag(m.Zstd, helloZstd))
	b = append(b, m.UUID[:]...)
	b = binary.BigEndian.AppendUint64(b, m.HighestTerm)
	b = binary.BigEndian.AppendUint64(b, m.LastTerm)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Start))
	b = append(b, m.Nonce[:]...)
	b, err := appendString8(b, "node ID", m.NodeID)
	if err != nil {
		return b, err
	}
	return appendString8(b, "role", m.Role)
}

// UnmarshalBinary decodes b into m.
func (m *Hello) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeHello}
	d.version()
	m.Version = ProtocolVersion
	f := d.flags(helloSeed | helloZstd)
	m.Seed, m.Zstd = f&helloSeed != 0, f&helloZstd != 0
	d.bytes(m.UUID[:], "UUID")
	m.HighestTerm = d.u64("highest term")
	m.LastTerm = d.u64("last term")
	m.Start = lsn.LSN(d.u64("start LSN"))
	if m.Seed && m.Start != 0 {
		d.fail("a seed request carries start LSN %s, want 0", m.Start)
	}
	d.bytes(m.Nonce[:], "nonce")
	m.NodeID = d.string8("node ID")
	if d.err == nil && m.NodeID == "" {
		d.fail("empty node ID")
	}
	m.Role = d.string8("role")
	d.bytes(m.MAC[:], "MAC")
	return d.end()
}

// Welcome accepts a Hello. Streaming (or seeding) follows.
type Welcome struct {
	Term  uint64  // the server's current term
	Start lsn.LSN // where Records start; 0 for a seed (SeedStart says)
	Zstd  bool    // compression is on for this connection
	End   lsn.LSN // the server's durable end when it accepted
	// Heartbeat is the server's heartbeat interval, to millisecond
	// precision; the client derives its dead-peer timeout from it.
	Heartbeat time.Duration
	// PrimaryHTTP is the client API address of the cluster's primary (for
	// a cascading server, its own upstream's primary), where a replica
	// forwards writes; empty when unknown.
	PrimaryHTTP string
	// MAC is HMAC-SHA256(secret, "tandem-welcome" || hello nonce || the
	// encoding of the Welcome without MAC): the server's proof.
	MAC [NonceSize]byte
}

const welcomeZstd = 1 << 0

// Type returns TypeWelcome.
func (*Welcome) Type() MsgType { return TypeWelcome }

// AppendBinary appends the encoding of m to b.
func (m *Welcome) AppendBinary(b []byte) ([]byte, error) {
	return append(m.appendSigned(b), m.MAC[:]...), nil
}

func (m *Welcome) appendSigned(b []byte) []byte {
	b = append(b, boolFlag(m.Zstd, welcomeZstd))
	b = binary.BigEndian.AppendUint64(b, m.Term)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Start))
	b = binary.BigEndian.AppendUint64(b, uint64(m.End))
	b = binary.BigEndian.AppendUint32(b, uint32(min(m.Heartbeat.Milliseconds(), 1<<32-1)))
	addr := m.PrimaryHTTP
	if len(addr) > MaxIDLength || !utf8.ValidString(addr) {
		addr = "" // ServerConfig validation keeps this from happening
	}
	return append(append(b, byte(len(addr))), addr...)
}

// UnmarshalBinary decodes b into m.
func (m *Welcome) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeWelcome}
	m.Zstd = d.flags(welcomeZstd)&welcomeZstd != 0
	m.Term = d.u64("term")
	m.Start = lsn.LSN(d.u64("start LSN"))
	m.End = lsn.LSN(d.u64("end LSN"))
	m.Heartbeat = time.Duration(d.u32("heartbeat")) * time.Millisecond
	m.PrimaryHTTP = d.string8("primary HTTP address")
	d.bytes(m.MAC[:], "MAC")
	return d.end()
}

// Type returns TypeError.
func (*Error) Type() MsgType { return TypeError }

// AppendBinary appends the encoding of e to b, cutting the message to
// MaxErrorMessage bytes.
func (e *Error) AppendBinary(b []byte) ([]byte, error) {
	msg := e.Message
	if len(msg) > MaxErrorMessage {
		msg = msg[:MaxErrorMessage]
	}
	msg = strings.ToValidUTF8(msg, "?")
	b = binary.BigEndian.AppendUint16(b, uint16(e.Code))
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...), nil
}

// UnmarshalBinary decodes b into e.
func (e *Error) UnmarshalBinary(b []byte) error {
	d := decoder{b: b, msg: TypeError}
	e.Code = Code(d.u16("code"))
	e.Message = d.string16("message", MaxErrorMessage)
	return d.end()
}

func boolFlag(v bool, bit uint8) uint8 {
	if v {
		return bit
	}
	return 0
}
