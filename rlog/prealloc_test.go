package rlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// segmentFileSizes returns the size of each segment file of the log, in
// the order of l.Segments().
func segmentFileSizes(t *testing.T, l *Log) []int64 {
	t.Helper()
	var out []int64
	for _, s := range l.Segments() {
		out = append(out, fileSize(t, filepath.Join(l.Dir(), s.Name)))
	}
	return out
}

func TestPrealloc_NewSegment(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 4096)
	l := mustOpen(t, opts)
	if got := segmentFileSizes(t, l); len(got) != 1 || got[0] != 4096 {
		t.Fatalf("new log: segment file sizes %v, want [4096]", got)
	}
	if got := l.Size(); got != SegmentHeaderSize {
		t.Fatalf("Size = %d, want %d: it counts the header and records, not the file", got, SegmentHeaderSize)
	}
	appendN(t, l, 0, 200) // several rolls
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	sizes := segmentFileSizes(t, l)
	var total int64
	for i, s := range segs {
		want := s.Size // a finished segment is trimmed to its records
		if i == len(segs)-1 {
			want = 4096
		}
		if sizes[i] != want {
			t.Errorf("segment %s: file is %d bytes, want %d (records end at %d)", s.Name, sizes[i], want, s.Size)
		}
		if s.Size != SegmentHeaderSize+int64(s.End-s.First) {
			t.Errorf("segment %s: Size %d does not match its LSNs", s.Name, s.Size)
		}
		total += s.Size
	}
	if got := l.Size(); got != total {
		t.Errorf("Size = %d, want %d", got, total)
	}
}

// An oversized record gets a segment of its own, as long as it needs and
// no longer.
func TestPrealloc_OversizedRecord(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 4096)
	l := mustOpen(t, opts)
	appendN(t, l, 0, 3)
	big := testRecord(3)
	big.Payload = make([]byte, 10000)
	for i := range big.Payload {
		big.Payload[i] = byte(i | 1)
	}
	if _, err := l.Append(big); err != nil {
		t.Fatal(err)
	}
	after := appendN(t, l, 4, 2)
	segs := l.Segments()
	if len(segs) != 3 || segs[1].First != big.LSN || segs[1].End != big.End() {
		t.Fatalf("segments %+v, want the big record alone in the second", segs)
	}
	sizes := segmentFileSizes(t, l)
	if want := []int64{segs[0].Size, SegmentHeaderSize + int64(big.Size()), 4096}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("segment file sizes %v, want %v", sizes, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, opts)
	if rec := l.Recovered(); rec.Cut || l.End() != after[1].End() || rec.Records != 6 {
		t.Fatalf("reopen: Recovered = %+v, End = %s", rec, l.End())
	}
}

// Reopening a preallocated log is clean: the zeros after the last record
// are not a torn tail, and the log ends where it did.
func TestPrealloc_ReopenClean(t *testing.T) {
	for _, n := range []int{0, 1, 60, 300} {
		t.Run(fmt.Sprintf("%d records", n), func(t *testing.T) {
			opts, out := testOptions(t, t.TempDir(), 4096)
			l, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			recs := appendN(t, l, 0, n)
			end := l.End()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				l = mustOpen(t, opts)
				rec := l.Recovered()
				if rec.Cut || rec.CutBytes != 0 || rec.Records != n || len(rec.Removed) != 0 || l.End() != end {
					t.Fatalf("round %d: Recovered = %+v, End = %s; want clean, %d records, end %s", round, rec, l.End(), n, end)
				}
				if n > 0 && rec.Last.GTID != recs[n-1].GTID {
					t.Fatalf("round %d: last record %v, want %v", round, rec.Last.GTID, recs[n-1].GTID)
				}
				if got := len(readAll(t, l, l.First())); got != n {
					t.Fatalf("round %d: read %d records, want %d", round, got, n)
				}
				sizes := segmentFileSizes(t, l)
				if last := sizes[len(sizes)-1]; last != 4096 {
					t.Fatalf("round %d: last segment file is %d bytes, want 4096", round, last)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if strings.Contains(out.String(), "cut") || strings.Contains(out.String(), "incomplete") {
				t.Fatalf("log output reports a repair: %s", out.String())
			}
			l = mustOpen(t, opts)
			if got := appendN(t, l, n, 1)[0].LSN; got != end {
				t.Fatalf("next record at %s, want %s", got, end)
			}
		})
	}
}

// A bad record followed by valid ones in a preallocated segment is
// corruption, not a torn tail, and Open changes nothing.
func TestPrealloc_CorruptMiddle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wreck func(t *testing.T, path string, off int64, r *Record)
	}{
		{"flipped payload byte", func(t *testing.T, path string, off int64, r *Record) {
			flipByte(t, path, off+int64(r.Size())-2)
		}},
		{"zeroed frame header", func(t *testing.T, path string, off int64, r *Record) {
			writeAt(t, path, off, make([]byte, frameHeaderSize))
		}},
		{"zeroed record", func(t *testing.T, path string, off int64, r *Record) {
			writeAt(t, path, off, make([]byte, r.Size()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			recs := buildLog(t, dir, 4096, 20)
			bad := recs[10]
			path, off := fileOf(t, dir, bad.LSN)
			if got := fileSize(t, path); got != 4096 {
				t.Fatalf("segment is %d bytes, want 4096", got)
			}
			tc.wreck(t, path, off, bad)
			before, _ := os.ReadFile(path)
			opts, _ := testOptions(t, dir, 4096)
			_, err := Open(opts)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.LSN != bad.LSN || ce.Offset != off || !strings.Contains(ce.Reason, "valid records follow") {
				t.Fatalf("Open err = %v, want *CorruptError at %s, offset %d, valid records following", err, bad.LSN, off)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Fatal("the refused open changed the segment")
			}
		})
	}
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Without preallocation (a FaultFS, whose files cannot, or NoPreallocate)
// files grow with the records and the log works the same.
func TestPrealloc_Without(t *testing.T) {
	for _, how := range []string{"FaultFS", "NoPreallocate"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			opts, _ := testOptions(t, dir, 4096)
			if how == "FaultFS" {
				opts.FS = NewFaultFS(OSFS{}, 1)
			} else {
				opts.NoPreallocate = true
			}
			l := mustOpen(t, opts)
			if got := segmentFileSizes(t, l); got[0] != SegmentHeaderSize {
				t.Fatalf("new segment file is %d bytes, want %d", got[0], SegmentHeaderSize)
			}
			recs := appendN(t, l, 0, 150)
			for i, s := range l.Segments() {
				if got := segmentFileSizes(t, l)[i]; got != s.Size {
					t.Fatalf("segment %s: file %d bytes, records end at %d", s.Name, got, s.Size)
				}
			}
			if err := l.TruncateAfter(recs[140].LSN); err != nil {
				t.Fatal(err)
			}
			more := appendN(t, l, 200, 5)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, opts)
			if rec := l.Recovered(); rec.Cut || rec.Records != 145 || l.End() != more[4].End() {
				t.Fatalf("reopen: Recovered = %+v, End = %s; want clean, 145 records to %s", rec, l.End(), more[4].End())
			}
			sizes := segmentFileSizes(t, l)
			if got, want := sizes[len(sizes)-1], l.Segments()[len(sizes)-1].Size; got != want {
				t.Fatalf("last segment file is %d bytes, want %d: nothing preallocated", got, want)
			}
		})
	}
}

// TruncateAfter leaves zeros after the new end, in a file preallocated
// again, so the next Open sees a clean log.
func TestPrealloc_TruncateAfter(t *testing.T) {
	for _, keep := range []int{38, 12} { // within the last segment, across segments
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			opts, out := testOptions(t, t.TempDir(), 500)
			l := mustOpen(t, opts)
			recs := appendN(t, l, 0, 40)
			end := recs[keep].LSN
			if err := l.TruncateAfter(end); err != nil {
				t.Fatal(err)
			}
			path, off := fileOf(t, l.Dir(), end)
			if got := fileSize(t, path); got != 500 {
				t.Fatalf("segment is %d bytes after TruncateAfter, want 500", got)
			}
			if b := readAt(t, path, off, 500-int(off)); nonZeroLen(b) != 0 {
				t.Fatalf("bytes after the new end are not zeros: %x", b)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, opts)
			if rec := l.Recovered(); rec.Cut || rec.Records != keep || l.End() != end {
				t.Fatalf("reopen: Recovered = %+v, End = %s; want clean, %d records to %s", rec, l.End(), keep, end)
			}
			if strings.Contains(out.String(), "cut") {
				t.Fatalf("log output reports a cut: %s", out.String())
			}
		})
	}
}
