package rlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/lsn"
)

func TestOptions_Validate(t *testing.T) {
	good := DefaultOptions()
	good.Dir = t.TempDir()
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(default+dir) = %v", err)
	}
	for name, edit := range map[string]func(o *Options){
		"no dir":       func(o *Options) { o.Dir = "" },
		"tiny segment": func(o *Options) { o.SegmentSize = MinSegmentSize - 1 },
		"nil fs":       func(o *Options) { o.FS = nil },
		"nil logger":   func(o *Options) { o.Logger = nil },
	} {
		o := good
		edit(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate = nil, want an error", name)
		}
	}
}

func TestLog_Open_Empty(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	if got, want := l.End(), lsn.LSN(0); got != want {
		t.Fatalf("End = %s, want %s", got, want)
	}
	if l.First() != 0 || l.Durable() != 0 {
		t.Fatalf("First, Durable = %s, %s; want 0, 0", l.First(), l.Durable())
	}
	if _, err := os.Stat(filepath.Join(dir, "0000000000000000.seg")); err != nil {
		t.Fatalf("first segment: %v", err)
	}
}

func TestLog_Open_StartLSN(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 1024)
	opts.StartLSN = 0x1000
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 3)
	if got, want := recs[0].LSN, lsn.LSN(0x1000); got != want {
		t.Fatalf("first LSN = %s, want %s", got, want)
	}
	if got, want := l.First(), lsn.LSN(0x1000); got != want {
		t.Fatalf("First = %s, want %s", got, want)
	}
	if _, err := l.NewReader(0); !errors.Is(err, ErrCompacted) {
		t.Fatalf("NewReader(0) err = %v, want ErrCompacted", err)
	}
}

func TestLog_Append_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(t, dir, 512) // a few records per segment
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var want []*Record
	// Single appends and batches, so batches roll mid-call too.
	want = append(want, appendN(t, l, 0, 100)...)
	for i := 100; i < 300; i += 20 {
		batch := make([]*Record, 20)
		for j := range batch {
			batch[j] = testRecord(i + j)
		}
		end, err := l.Append(batch...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := end, batch[19].End(); got != want {
			t.Fatalf("Append returned %s, want %s", got, want)
		}
		want = append(want, batch...)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(want); i++ {
		if want[i].LSN != want[i-1].End() {
			t.Fatalf("record %d at %s, previous ends at %s", i, want[i].LSN, want[i-1].End())
		}
	}
	end := l.End()
	segs := l.Segments()
	if len(segs) < 20 {
		t.Fatalf("only %d segments; want many rolls", len(segs))
	}
	var total int64
	for i, s := range segs {
		if s.Size > opts.SegmentSize {
			t.Errorf("segment %s is %d bytes, over %d", s.Name, s.Size, opts.SegmentSize)
		}
		if i > 0 && s.First != segs[i-1].End {
			t.Errorf("segment %s starts at %s, previous ends at %s", s.Name, s.First, segs[i-1].End)
		}
		total += s.Size
	}
	if got := l.Size(); got != total {
		t.Errorf("Size = %d, want %d", got, total)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = mustOpen(t, opts)
	if got := l.End(); got != end {
		t.Fatalf("reopened End = %s, want %s", got, end)
	}
	rec := l.Recovered()
	if rec.Records != len(want) || rec.Cut || rec.Segments != len(segs) {
		t.Fatalf("Recovered = %+v, want %d records, no cut, %d segments", rec, len(want), len(segs))
	}
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if err := sameRecord(got[i], want[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Appending continues where the log ended.
	more := appendN(t, l, 300, 1)
	if got := more[0].LSN; got != end {
		t.Fatalf("next LSN = %s, want %s", got, end)
	}
}

func TestLog_Append_Oversized(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 256)
	l := mustOpen(t, opts)
	appendN(t, l, 0, 2)
	big := &Record{Kind: KindRow, Payload: make([]byte, 1000)}
	if _, err := l.Append(big); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2, 1)
	segs := l.Segments()
	var found bool
	for _, s := range segs {
		if s.First == big.LSN {
			found = true
			if s.End != big.End() {
				t.Errorf("oversized record shares segment %s (end %s, record ends %s)", s.Name, s.End, big.End())
			}
		}
	}
	if !found {
		t.Fatalf("oversized record at %s does not start a segment: %+v", big.LSN, segs)
	}
	tooBig := &Record{Kind: KindRow, Payload: make([]byte, MaxPayloadSize+1)}
	end := l.End()
	if _, err := l.Append(testRecord(9), tooBig); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append(too large) err = %v, want ErrTooLarge", err)
	}
	if got := l.End(); got != end {
		t.Fatalf("End moved to %s after a rejected Append, want %s", got, end)
	}
	if _, err := l.Append(testRecord(10)); err != nil {
		t.Fatalf("log unusable after ErrTooLarge: %v", err)
	}
}

func TestLog_Locate(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 300)
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 20)
	for _, r := range recs {
		name, off, err := l.Locate(r.LSN)
		if err != nil {
			t.Fatal(err)
		}
		first, ok := ParseSegmentName(name)
		if !ok {
			t.Fatalf("Locate returned %q", name)
		}
		if got, want := off, SegmentHeaderSize+int64(r.LSN-first); got != want {
			t.Fatalf("Locate(%s) offset = %d, want %d", r.LSN, got, want)
		}
		b := make([]byte, r.Size())
		f, err := os.Open(filepath.Join(opts.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadAt(b, off)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		dec, _, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(&dec, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.Locate(l.End() + 1); !errors.Is(err, ErrBeyondEnd) {
		t.Fatalf("Locate past end err = %v, want ErrBeyondEnd", err)
	}
}

func TestSegmentName(t *testing.T) {
	if got, want := SegmentName(0xA3F0), "000000000000A3F0.seg"; got != want {
		t.Fatalf("SegmentName = %q, want %q", got, want)
	}
	for _, bad := range []string{"000000000000a3f0.seg", "A3F0.seg", "000000000000A3F0.log", "000000000000A3F0.seg.tmp"} {
		if _, ok := ParseSegmentName(bad); ok {
			t.Errorf("ParseSegmentName(%q) ok", bad)
		}
	}
}

func TestLog_Close(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 1024)
	l := mustOpen(t, opts)
	appendN(t, l, 0, 1)
	if _, err := l.Append(testRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := l.Durable(), l.End(); got != want {
		t.Fatalf("Close left Durable = %s, End = %s", got, want)
	}
	if _, err := l.Append(testRecord(2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close err = %v, want ErrClosed", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close err = %v, want ErrClosed", err)
	}
	if _, err := l.NewReader(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewReader after Close err = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestLog_Append_Allocs(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), DefaultSegmentSize)
	l := mustOpen(t, opts)
	rec := &Record{Kind: KindRow, Payload: []byte(strings.Repeat("x", 200))}
	if _, err := l.Append(rec); err != nil { // warm the buffer
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Append allocates %.1f times per call, want 0", allocs)
	}
}
