package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

func TestReadFrame(t *testing.T) {
	good := appendFrame(nil, TypeAck, 0, []byte("payload"))
	f, err := readFrame(bytes.NewReader(good), 100)
	if err != nil || f.typ != TypeAck || string(f.payload) != "payload" || f.wireSize() != len(good) {
		t.Fatalf("readFrame = %+v, %v", f, err)
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "EOF"},
		{"short header", good[:3], "unexpected EOF"},
		{"short payload", good[:8], "unexpected EOF"},
		{"no CRC", good[:len(good)-2], "unexpected EOF"},
		{"oversize", appendFrame(nil, TypeAck, 0, make([]byte, 101)), "exceeds the 100-byte limit"},
		{"type 0", appendFrame(nil, 0, 0, nil), "unknown message type 0"},
		{"type 11", appendFrame(nil, 11, 0, nil), "unknown message type 11"},
		{"flags", appendFrame(nil, TypeAck, 2, nil), "unknown frame flags"},
		{"CRC", append(good[:len(good)-1:len(good)-1], good[len(good)-1]^1), "CRC mismatch"},
		{"type under CRC", func() []byte { b := bytes.Clone(good); b[4] = byte(TypeHello); return b }(), "CRC mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFrame(bytes.NewReader(tt.b), 100)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// A length field alone does not make the reader allocate it.
func TestReadFrame_AllocatesAsDataArrives(t *testing.T) {
	hdr := append(binary.BigEndian.AppendUint32(nil, MaxFramePayload), byte(TypeRecords), 0)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = readFrame(io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(make([]byte, 100))), MaxFramePayload)
		}
	}).AllocedBytesPerOp()
	if allocs > 1<<20 {
		t.Fatalf("a 100-byte frame claiming %d bytes allocated %d bytes", MaxFramePayload, allocs)
	}
}

func TestMessages_RoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 123456789)
	msgs := []Message{
		&Challenge{Version: ProtocolVersion, NodeID: "primary", UUID: primaryUUID, Term: 7, Nonce: [32]byte{1, 2}, Zstd: true},
		&Hello{Version: ProtocolVersion, NodeID: "r1", UUID: replicaUUID, HighestTerm: 7, LastTerm: 6, Start: 4096, Zstd: true, Role: RoleReplication, Nonce: [32]byte{3}, MAC: [32]byte{4}},
		&Hello{Version: ProtocolVersion, NodeID: "r1", Seed: true},
		&Welcome{Term: 7, Start: 4096, Zstd: true, End: 8192, Heartbeat: 1500 * time.Millisecond, PrimaryHTTP: "127.0.0.1:4001", MAC: [32]byte{5}},
		Errorf(CodeSlotLost, "slot lost: re-seed"),
		&Records{Count: 1, Data: []byte("opaque")},
		&Heartbeat{Durable: 99, Time: now, Term: 7},
		&Ack{Write: 3, Flush: 2, Apply: 1, Time: now},
		&SeedStart{Size: 1 << 30, LSN: lsn.LSN(77)},
		&SeedChunk{Data: []byte("chunk")},
		&SeedEnd{SHA256: [32]byte{9}},
	}
	for _, m := range msgs {
		b, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeMessage(m.Type(), b)
		if err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		b2, _ := got.AppendBinary(nil)
		if !bytes.Equal(b, b2) {
			t.Fatalf("%s: re-encoded %x, want %x", m.Type(), b2, b)
		}
		if h, ok := got.(*Heartbeat); ok && !h.Time.Equal(now) {
			t.Fatalf("heartbeat time %v, want %v", h.Time, now)
		}
	}
}

func TestHello_Decode(t *testing.T) {
	h := &Hello{Version: ProtocolVersion, NodeID: "r1", Seed: true}
	b, _ := h.AppendBinary(nil)
	b[2] |= 0x80
	if err := new(Hello).UnmarshalBinary(b); !errors.Is(err, ErrProtocol) {
		t.Fatalf("unknown flag: %v", err)
	}
	b[2] &^= 0x80
	b[3+16+8+8+7] = 1 // a start LSN with seed
	if err := new(Hello).UnmarshalBinary(b); err == nil || !strings.Contains(err.Error(), "seed request carries") {
		t.Fatalf("seed with LSN: %v", err)
	}
	binary.BigEndian.PutUint16(b, 2)
	if err := new(Hello).UnmarshalBinary(b); CodeOf(err) != CodeVersionMismatch {
		t.Fatalf("version 2: %v", err)
	}
	if _, err := (&Hello{NodeID: strings.Repeat("x", 256)}).AppendBinary(nil); err == nil {
		t.Fatal("a 256-byte node ID was encoded")
	}
}

func TestHelloMAC(t *testing.T) {
	h := &Hello{Version: ProtocolVersion, NodeID: "r1", Start: 10, Nonce: [32]byte{1}}
	nonce := [32]byte{7}
	mac, err := helloMAC([]byte(testSecret), nonce, h)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(h *Hello, n *[32]byte, s *string){
		"secret": func(_ *Hello, _ *[32]byte, s *string) { *s += "x" },
		"nonce":  func(_ *Hello, n *[32]byte, _ *string) { n[0]++ },
		"start":  func(h *Hello, _ *[32]byte, _ *string) { h.Start++ },
		"term":   func(h *Hello, _ *[32]byte, _ *string) { h.HighestTerm++ },
		"node":   func(h *Hello, _ *[32]byte, _ *string) { h.NodeID = "r2" },
	} {
		h2, n2, s2 := *h, nonce, testSecret
		f(&h2, &n2, &s2)
		if got, _ := helloMAC([]byte(s2), n2, &h2); got == mac {
			t.Fatalf("changing the %s kept the MAC", name)
		}
	}
}

func TestRecords_Decode(t *testing.T) {
	data := encodedRecords(t, 3)
	recs, err := (&Records{Count: 3, Data: data}).Decode()
	if err != nil || len(recs) != 3 || recs[0].LSN != 0 || recs[2].End() != lsn.LSN(len(data)) {
		t.Fatalf("Decode = %d records, %v", len(recs), err)
	}
	for _, tt := range []struct {
		name string
		m    Records
		want string
	}{
		{"zero", Records{Count: 0, Data: data}, "no records"},
		{"too many", Records{Count: 1 << 30, Data: data}, "cannot fit"},
		{"fewer", Records{Count: 2, Data: data}, "bytes after the last of 2"},
		{"more", Records{Count: 3, Data: data[:len(data)-5]}, "record 3 of 3"},
	} {
		if _, err := tt.m.Decode(); err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrProtocol) {
			t.Fatalf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestCodec_Compress(t *testing.T) {
	cd, err := newCodec(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer cd.close()
	src := bytes.Repeat([]byte("abc"), 10000)
	z, ok := cd.compress(nil, src)
	if !ok || len(z) >= len(src) {
		t.Fatalf("compress: %d bytes, ok %v", len(z), ok)
	}
	out, err := cd.decompress(TypeRecords, z)
	if err != nil || !bytes.Equal(out, src) {
		t.Fatalf("decompress: %v", err)
	}
	if _, ok := cd.compress(nil, seedData(1000)[:600]); ok {
		t.Fatal("random bytes compressed")
	}
	// Output beyond the limit is refused.
	big, _ := cd.compress(nil, make([]byte, 2<<20))
	if _, err := cd.decompress(TypeRecords, big); !errors.Is(err, ErrProtocol) {
		t.Fatalf("decompressing past the limit: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	s := DefaultServerConfig()
	s.Secret, s.NodeID, s.UUID = testSecret, "n1", primaryUUID
	if err := s.withDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	s.Secret = "short"
	if err := s.withDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "--cluster-secret") {
		t.Fatalf("short secret: %v", err)
	}
	c := DefaultClientConfig()
	c.Secret, c.NodeID, c.UUID = testSecret, "n2", replicaUUID
	if err := c.withDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "Upstream") {
		t.Fatalf("no upstream: %v", err)
	}
}
