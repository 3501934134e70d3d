package rlog

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/hlc"
)

func goldenRecords() map[string]*Record {
	return map[string]*Record{
		"row": {LSN: 0, Term: 1, GTID: gtid.GTID{Origin: testOrigin, Seq: 1}, HLC: hlc.New(1_700_000_000_000, 0),
			Kind: KindRow, Payload: []byte("T\x02\x01\x00\x00\x00users\x00")},
		"ddl_empty": {LSN: 0xA3F0, Term: 7, GTID: gtid.GTID{Origin: testOrigin, Seq: 42}, HLC: hlc.New(1_700_000_000_123, 9),
			Kind: KindDDL},
		"statement_high": {LSN: 1<<40 | 0x10, Term: 1<<63 + 5, GTID: gtid.GTID{Origin: gtid.UUID{0xff, 0xee}, Seq: 1<<64 - 1},
			HLC: hlc.Timestamp(1<<64 - 1), Kind: KindStatement, Payload: []byte("INSERT INTO t VALUES (?1)")},
	}
}

func TestAppendRecord_Golden(t *testing.T) {
	for name, rec := range goldenRecords() {
		t.Run(name, func(t *testing.T) {
			enc := AppendRecord(nil, rec)
			got := hex.Dump(enc)
			path := filepath.Join("testdata", "record_"+name+".golden")
			if *rewrite {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -rewrite to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("encoding changed (run with -rewrite if intended)\ngot:\n%s\nwant:\n%s", got, want)
			}
			if gotN, wantN := len(enc), rec.Size(); gotN != wantN {
				t.Fatalf("len = %d, want Size() = %d", gotN, wantN)
			}
			dec, n, err := DecodeRecord(enc)
			if err != nil || n != len(enc) {
				t.Fatalf("DecodeRecord = %d, %v", n, err)
			}
			if err := sameRecord(&dec, rec); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRecord_End(t *testing.T) {
	r := &Record{LSN: 100, Payload: make([]byte, 40)}
	if got, want := r.Size(), RecordOverhead+40; got != want {
		t.Fatalf("Size = %d, want %d", got, want)
	}
	if got, want := r.End(), r.LSN+100; got != want {
		t.Fatalf("End = %s, want %s", got, want)
	}
}

func TestDecodeRecord_Errors(t *testing.T) {
	good := AppendRecord(nil, goldenRecords()["row"])
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short header", good[:5], ErrTruncated},
		{"short body", good[:len(good)-1], ErrTruncated},
		{"flipped payload", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt},
		{"flipped crc", mod(func(b []byte) []byte { b[5] ^= 0x80; return b }), ErrCorrupt},
		{"length too small", mod(func(b []byte) []byte { b[3] = 10; return b }), ErrCorrupt},
		{"length too large", mod(func(b []byte) []byte { b[0] = 0xff; return b }), ErrTooLarge},
		{"bad version", reencode(good, func(body []byte) { body[0] = 2 }), ErrBadVersion},
		{"bad kind", reencode(good, func(body []byte) { body[1] = 9 }), ErrCorrupt},
		{"bad flags", reencode(good, func(body []byte) { body[3] = 1 }), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeRecord(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// reencode edits a record's body and fixes its CRC, to reach the checks
// behind the CRC.
func reencode(rec []byte, edit func(body []byte)) []byte {
	b := append([]byte(nil), rec...)
	edit(b[frameHeaderSize:])
	crc := crcOf(b[frameHeaderSize:])
	b[4], b[5], b[6], b[7] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return b
}

func TestKind_String(t *testing.T) {
	for _, k := range []Kind{KindRow, KindStatement, KindMixed, KindDDL} {
		back, err := ParseKind(k.String())
		if err != nil || back != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), back, err, k)
		}
	}
	if got, want := Kind(0).String(), "kind(0)"; got != want {
		t.Errorf("Kind(0) = %q, want %q", got, want)
	}
	if _, err := ParseKind("bogus"); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("ParseKind(bogus) err = %v", err)
	}
}

func TestCorruptError_Error(t *testing.T) {
	err := error(&CorruptError{Segment: "0000000000000000.seg", LSN: 0x40, Offset: 88, Reason: "CRC mismatch"})
	for _, want := range []string{"0000000000000000.seg", "0/00000040", "offset 88", "CRC mismatch", "restore the segment", "will not skip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Error() = %q, missing %q", err, want)
		}
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("errors.Is(ErrCorrupt) = false")
	}
}
