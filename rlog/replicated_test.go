package rlog

import (
	"errors"
	"testing"
)

func TestLog_AppendReplicated(t *testing.T) {
	src, err := Open(Options{Dir: t.TempDir(), SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var recs []*Record
	for i := range 20 {
		r := &Record{Term: 1, Kind: KindRow, Payload: make([]byte, 40+i)}
		r.GTID.Seq = uint64(i + 1)
		recs = append(recs, r)
	}
	if _, err := src.Append(recs...); err != nil {
		t.Fatal(err)
	}
	dst, err := Open(Options{Dir: t.TempDir(), SegmentSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	// A gap is refused and writes nothing.
	if _, err := dst.AppendReplicated(recs[1:3]...); !errors.Is(err, ErrNotContiguous) || dst.End() != 0 {
		t.Fatalf("gap: err = %v, end %v", err, dst.End())
	}
	end, err := dst.AppendReplicated(recs[:10]...)
	if err != nil || end != recs[9].End() {
		t.Fatalf("append: %v %v", end, err)
	}
	// An overlap is refused.
	if _, err := dst.AppendReplicated(recs[9:12]...); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("overlap: err = %v", err)
	}
	if _, err := dst.AppendReplicated(recs[10:]...); err != nil {
		t.Fatal(err)
	}
	if err := dst.Sync(); err != nil {
		t.Fatal(err)
	}
	// Same LSNs, same records, even though the segment sizes differ.
	r, err := dst.NewReader(recs[5].LSN)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, want := range recs[5:] {
		got, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if got.LSN != want.LSN || got.GTID != want.GTID || len(got.Payload) != len(want.Payload) {
			t.Fatalf("record at %v: got %v %v", want.LSN, got.LSN, got.GTID)
		}
	}
}
