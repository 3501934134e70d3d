package stream

import (
	"bytes"
	"testing"
	"time"
)

// FuzzReadFrame feeds arbitrary bytes to the frame reader and, for frames
// that verify, to decompression and message decoding, as conn.recv does.
func FuzzReadFrame(f *testing.F) {
	cd, err := newCodec(1 << 20)
	if err != nil {
		f.Fatal(err)
	}
	defer cd.close()
	f.Add(appendFrame(nil, TypeAck, 0, make([]byte, 32)))
	f.Add(appendFrame(nil, TypeHeartbeat, 0, make([]byte, 24)))
	z, _ := cd.compress(nil, bytes.Repeat([]byte("record"), 200))
	f.Add(appendFrame(nil, TypeRecords, flagZstd, z))
	f.Add(appendFrame(nil, TypeSeedChunk, flagZstd, z))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	recs, _ := (&Records{Count: 3, Data: encodedRecords(f, 3)}).AppendBinary(nil)
	f.Add(appendFrame(nil, TypeRecords, 0, recs))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := readFrame(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		if fr.wireSize() > len(b) {
			t.Fatalf("frame of %d bytes from %d input bytes", fr.wireSize(), len(b))
		}
		m, _, err := decodeFrame(fr, cd)
		if err != nil {
			return
		}
		if r, ok := m.(*Records); ok {
			_, _ = r.Decode()
		}
	})
}

// fuzzMessage checks that decoding never panics and that whatever decodes
// encodes back to the same bytes: the encoding is canonical.
func fuzzMessage(f *testing.F, newMsg func() Message, seeds ...Message) {
	for _, s := range seeds {
		b, err := s.AppendBinary(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := newMsg()
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", m, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("%T: decoded %x, re-encoded %x", m, b, out)
		}
		if r, ok := m.(*Records); ok {
			_, _ = r.Decode()
		}
	})
}

func FuzzDecodeChallenge(f *testing.F) {
	fuzzMessage(f, func() Message { return new(Challenge) },
		&Challenge{Version: ProtocolVersion, NodeID: "primary", Term: 3, Zstd: true})
}

func FuzzDecodeHello(f *testing.F) {
	fuzzMessage(f, func() Message { return new(Hello) },
		&Hello{Version: ProtocolVersion, NodeID: "r1", Start: 4096, Zstd: true, Role: RoleReplication},
		&Hello{Version: ProtocolVersion, NodeID: "r2", Seed: true})
}

func FuzzDecodeWelcome(f *testing.F) {
	fuzzMessage(f, func() Message { return new(Welcome) },
		&Welcome{Term: 3, Start: 10, End: 20, Zstd: true, Heartbeat: time.Second})
}

func FuzzDecodeError(f *testing.F) {
	fuzzMessage(f, func() Message { return new(Error) }, Errorf(CodeAuthFailed, "wrong secret"))
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(append([]byte{0, 0, 0, 1}, make([]byte, 60)...))
	f.Add(append([]byte{0, 0, 0, 4}, encodedRecords(f, 4)...))
	fuzzMessage(f, func() Message { return new(Records) }, &Records{Count: 2, Data: []byte("xx")})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	fuzzMessage(f, func() Message { return new(Heartbeat) }, &Heartbeat{Durable: 5, Time: time.Unix(0, 99), Term: 1})
}

func FuzzDecodeAck(f *testing.F) {
	fuzzMessage(f, func() Message { return new(Ack) }, &Ack{Write: 3, Flush: 2, Apply: 1, Time: time.Unix(5, 0)})
}

func FuzzDecodeSeedStart(f *testing.F) {
	fuzzMessage(f, func() Message { return new(SeedStart) }, &SeedStart{Size: 1 << 20, LSN: 4})
}

func FuzzDecodeSeedChunk(f *testing.F) {
	fuzzMessage(f, func() Message { return new(SeedChunk) }, &SeedChunk{Data: []byte("db")})
}

func FuzzDecodeSeedEnd(f *testing.F) {
	fuzzMessage(f, func() Message { return new(SeedEnd) }, &SeedEnd{SHA256: [32]byte{1}})
}
