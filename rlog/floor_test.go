package rlog

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A torn-looking tail below the floor (records the database already
// applied) is corruption: Open refuses and changes nothing.
func TestOpen_FloorRefusesCut(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var last *Record
	for i := range 5 {
		last = &Record{Term: 3, Kind: KindRow, Payload: []byte("payload")}
		last.GTID.Seq = uint64(i + 1)
		if _, err := l.Append(last); err != nil {
			t.Fatal(err)
		}
	}
	end := l.End()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, SegmentName(0))
	// Cut the last record short (the file is preallocated: cut at the
	// record's end, not the file's).
	if err := os.Truncate(seg, SegmentHeaderSize+int64(end)-2); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(seg)
	_, err = Open(Options{Dir: dir, Floor: end})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.LSN != last.LSN {
		t.Fatalf("Open with floor %v: err = %v, want corruption at %v", end, err, last.LSN)
	}
	if fi2, _ := os.Stat(seg); fi2.Size() != fi.Size() {
		t.Fatalf("refused open changed the segment: %d bytes, want %d", fi2.Size(), fi.Size())
	}
	// Without the floor it is a torn tail: cut, and the last record before
	// it is reported.
	l, err = Open(Options{Dir: dir, Floor: last.LSN})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := l.Recovered()
	if !rec.Cut || rec.CutAt != last.LSN || rec.Last.GTID.Seq != 4 || rec.Last.Term != 3 {
		t.Fatalf("recovered %+v", rec)
	}
}
