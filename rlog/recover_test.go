package rlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/lsn"
)

// buildLog writes n records to a new log in dir with the given segment
// size, closes it, and returns the records.
func buildLog(t *testing.T, dir string, segSize int64, n int) []*Record {
	t.Helper()
	opts, _ := testOptions(t, dir, segSize)
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	recs := appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// fileOf returns the path and file offset of the record at at.
func fileOf(t *testing.T, dir string, at lsn.LSN) (string, int64) {
	t.Helper()
	var best lsn.LSN
	var name string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if first, ok := ParseSegmentName(e.Name()); ok && first <= at && first >= best {
			best, name = first, e.Name()
		}
	}
	return filepath.Join(dir, name), SegmentHeaderSize + int64(at-best)
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// nonZeroLen returns the length of b up to its last non-zero byte: the
// bytes recovery reports as cut when b is a torn tail.
func nonZeroLen(b []byte) int64 {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return int64(n)
}

// readAt returns n bytes of the file at path from off.
func readAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestOpen_TornTail tears the last record of a preallocated segment in two
// ways: the file cut inside the record (the zeros after it gone too), and
// the record's last bytes zeros, the file still preallocated.
func TestOpen_TornTail(t *testing.T) {
	for _, zeroed := range []bool{false, true} {
		for _, k := range []int64{1, 4, 8, 9, 30, 59} {
			name := fmt.Sprintf("cut %d", k)
			if zeroed {
				name = fmt.Sprintf("zero %d", k)
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				recs := buildLog(t, dir, 500, 40)
				last := recs[len(recs)-1]
				path, off := fileOf(t, dir, last.LSN)
				if got := fileSize(t, path); got != 500 {
					t.Fatalf("last segment is %d bytes, want it preallocated to 500", got)
				}
				kept := int64(last.Size()) - k
				if zeroed {
					f, err := os.OpenFile(path, os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := f.WriteAt(make([]byte, k), off+kept); err != nil {
						t.Fatal(err)
					}
					f.Close()
				} else if err := os.Truncate(path, off+kept); err != nil {
					t.Fatal(err)
				}
				wantBytes := nonZeroLen(readAt(t, path, off, int(kept)))
				opts, out := testOptions(t, dir, 500)
				l := mustOpen(t, opts)
				rec := l.Recovered()
				if !rec.Cut || rec.CutAt != last.LSN || rec.CutBytes != wantBytes {
					t.Fatalf("Recovered = %+v, want cut at %s of %d bytes", rec, last.LSN, wantBytes)
				}
				if rec.Records != len(recs)-1 {
					t.Fatalf("Records = %d, want %d", rec.Records, len(recs)-1)
				}
				if got := l.End(); got != last.LSN {
					t.Fatalf("End = %s, want %s", got, last.LSN)
				}
				if !strings.Contains(out.String(), "cut torn tail") || !strings.Contains(out.String(), last.LSN.String()) {
					t.Fatalf("log output %q lacks the cut and its LSN", out.String())
				}
				if got := fileSize(t, path); got != 500 {
					t.Fatalf("after the cut the segment is %d bytes, want it preallocated again to 500", got)
				}
				if b := readAt(t, path, off, 500-int(off)); nonZeroLen(b) != 0 {
					t.Fatalf("bytes after the cut are not zeros: %x", b)
				}
				again := appendN(t, l, 100, 1)
				if got := again[0].LSN; got != last.LSN {
					t.Fatalf("appending continued at %s, want %s", got, last.LSN)
				}
				if got := readAll(t, l, 0); len(got) != len(recs) {
					t.Fatalf("read %d records after repair, want %d", len(got), len(recs))
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = mustOpen(t, opts)
				if rec := l.Recovered(); rec.Cut || rec.Records != len(recs) || l.End() != again[0].End() {
					t.Fatalf("reopen after the repair: Recovered = %+v, End = %s; want clean, %d records, end %s",
						rec, l.End(), len(recs), again[0].End())
				}
			})
		}
	}
}

// TestOpen_PartialRecordBeforeZeros writes the start of a record at the end
// of a preallocated segment, as a write cut short leaves it: a non-zero
// frame header, then zeros. It is a torn tail.
func TestOpen_PartialRecordBeforeZeros(t *testing.T) {
	for _, n := range []int{4, 8, 20, 40, 74} { // the first 3 bytes are zeros (the length's high bytes)
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			recs := buildLog(t, dir, 4096, 5)
			end := recs[4].End()
			path, off := fileOf(t, dir, end)
			next := testRecord(5)
			next.LSN = end
			partial := AppendRecord(nil, next)[:n]
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(partial, off); err != nil {
				t.Fatal(err)
			}
			f.Close()
			opts, out := testOptions(t, dir, 4096)
			l := mustOpen(t, opts)
			if rec := l.Recovered(); !rec.Cut || rec.CutAt != end || rec.CutBytes != nonZeroLen(partial) || rec.Records != 5 {
				t.Fatalf("Recovered = %+v, want a cut at %s of %d bytes", rec, end, nonZeroLen(partial))
			}
			if !strings.Contains(out.String(), "cut torn tail") {
				t.Fatalf("log output %q lacks the cut", out.String())
			}
			if got := fileSize(t, path); got != 4096 {
				t.Fatalf("segment is %d bytes after the cut, want 4096", got)
			}
			more := appendN(t, l, 5, 3)
			if more[0].LSN != end {
				t.Fatalf("appending continued at %s, want %s", more[0].LSN, end)
			}
			if got := readAll(t, l, 0); len(got) != 8 {
				t.Fatalf("read %d records, want 8", len(got))
			}
		})
	}
}

// TestOpen_ZeroTailIsClean extends a segment written without preallocation
// with zeros, as a crash can leave a file longer than what was written:
// zeros after the last record are not a torn tail; nothing is cut.
func TestOpen_ZeroTailIsClean(t *testing.T) {
	dir := t.TempDir()
	opts, out := testOptions(t, dir, 4096)
	opts.NoPreallocate = true
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path, _ := fileOf(t, dir, recs[4].LSN)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l = mustOpen(t, opts)
	if rec := l.Recovered(); rec.Cut || rec.CutBytes != 0 || rec.Records != 5 || l.End() != recs[4].End() {
		t.Fatalf("Recovered = %+v, End = %s; want no cut, end %s", rec, l.End(), recs[4].End())
	}
	if strings.Contains(out.String(), "cut") {
		t.Fatalf("log output %q reports a cut", out.String())
	}
	more := appendN(t, l, 5, 10) // over the zeros and past them
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, opts)
	if rec := l.Recovered(); rec.Cut || rec.Records != 15 || l.End() != more[9].End() {
		t.Fatalf("reopen: Recovered = %+v, End = %s; want 15 records to %s", rec, l.End(), more[9].End())
	}
}

func TestOpen_CorruptMiddle(t *testing.T) {
	for _, tc := range []struct {
		name string
		last bool  // damage the last segment (else segment 0)
		pick int   // which of that segment's records: 0 first, -1 last
		skew int64 // byte within the record
	}{
		{"last segment crc", true, 0, 20},
		{"last segment length", true, 0, 2},
		{"earlier segment payload", false, 0, 65},
		{"earlier segment last record", false, -1, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			recs := buildLog(t, dir, 500, 40)
			lastPath, _ := fileOf(t, dir, recs[len(recs)-1].LSN)
			var in []*Record // records of the segment to damage
			for _, r := range recs {
				p, _ := fileOf(t, dir, r.LSN)
				if (tc.last && p == lastPath) || (!tc.last && filepath.Base(p) == SegmentName(0)) {
					in = append(in, r)
				}
			}
			if len(in) < 2 {
				t.Fatalf("segment holds %d records; the test needs a valid record after the damaged one", len(in))
			}
			bad := in[(tc.pick+len(in))%len(in)]
			path, off := fileOf(t, dir, bad.LSN)
			flipByte(t, path, off+tc.skew)
			opts, _ := testOptions(t, dir, 500)
			_, err := Open(opts)
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open err = %v, want *CorruptError", err)
			}
			if ce.Segment != filepath.Base(path) || ce.LSN != bad.LSN || ce.Offset != off {
				t.Fatalf("CorruptError = %+v, want segment %s, LSN %s, offset %d", ce, filepath.Base(path), bad.LSN, off)
			}
		})
	}
}

func TestOpen_Gap(t *testing.T) {
	dir := t.TempDir()
	buildLog(t, dir, 500, 40)
	entries, _ := os.ReadDir(dir)
	if len(entries) < 3 {
		t.Fatalf("%d segments, want at least 3", len(entries))
	}
	missing := entries[1].Name()
	if err := os.Remove(filepath.Join(dir, missing)); err != nil {
		t.Fatal(err)
	}
	opts, _ := testOptions(t, dir, 500)
	_, err := Open(opts)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Segment != entries[2].Name() || !strings.Contains(ce.Reason, "gap") {
		t.Fatalf("Open err = %v, want a gap *CorruptError naming %s", err, entries[2].Name())
	}
	if first, _ := ParseSegmentName(missing); ce.LSN != first {
		t.Fatalf("gap LSN = %s, want %s", ce.LSN, first)
	}
}

func TestOpen_IncompleteSegment(t *testing.T) {
	for name, content := range map[string][]byte{
		"zero length":    nil,
		"partial header": []byte("TNDMRL"),
		"zeroed header":  make([]byte, SegmentHeaderSize+100),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			recs := buildLog(t, dir, 500, 40)
			end := recs[len(recs)-1].End()
			stray := SegmentName(end)
			if err := os.WriteFile(filepath.Join(dir, stray), content, 0o644); err != nil {
				t.Fatal(err)
			}
			opts, out := testOptions(t, dir, 500)
			l := mustOpen(t, opts)
			if rec := l.Recovered(); len(rec.Removed) != 1 || rec.Removed[0] != stray || rec.Records != len(recs) {
				t.Fatalf("Recovered = %+v, want %s removed", rec, stray)
			}
			if l.End() != end || !strings.Contains(out.String(), "incomplete") {
				t.Fatalf("End = %s (want %s), log %q", l.End(), end, out.String())
			}
			appendN(t, l, 40, 20) // the log rolls into that name again
		})
	}
}

func TestOpen_IncompleteOnlySegment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SegmentName(0x500)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	opts, _ := testOptions(t, dir, 500)
	l := mustOpen(t, opts)
	if got, want := l.End(), lsn.LSN(0x500); got != want || l.First() != want {
		t.Fatalf("First, End = %s, %s; want %s", l.First(), got, want)
	}
}

func TestOpen_BadHeaderWithRecords(t *testing.T) {
	dir := t.TempDir()
	recs := buildLog(t, dir, 500, 40)
	path, _ := fileOf(t, dir, recs[39].LSN)
	flipByte(t, path, 3) // magic of the last segment
	opts, _ := testOptions(t, dir, 500)
	_, err := Open(opts)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Segment != filepath.Base(path) {
		t.Fatalf("Open err = %v, want *CorruptError for %s", err, filepath.Base(path))
	}
}

func TestOpen_HeaderOnlyLastSegment(t *testing.T) {
	dir := t.TempDir()
	recs := buildLog(t, dir, 500, 40)
	path, _ := fileOf(t, dir, recs[39].LSN)
	first, _ := ParseSegmentName(filepath.Base(path))
	// What a crash right after a roll leaves: the header and nothing else.
	if err := os.Truncate(path, SegmentHeaderSize); err != nil {
		t.Fatal(err)
	}
	opts, _ := testOptions(t, dir, 500)
	l := mustOpen(t, opts)
	if got := l.End(); got != first || l.Recovered().Cut {
		t.Fatalf("End = %s, want %s; Recovered = %+v", got, first, l.Recovered())
	}
	if got := appendN(t, l, 0, 1)[0].LSN; got != first {
		t.Fatalf("next record at %s, want %s", got, first)
	}
}
