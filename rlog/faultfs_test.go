package rlog

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

func faultOptions(t *testing.T, dir string, segSize int64) (Options, *FaultFS) {
	t.Helper()
	opts, _ := testOptions(t, dir, segSize)
	ffs := NewFaultFS(OSFS{}, 1)
	opts.FS = ffs
	return opts, ffs
}

func TestFaultFS_SyncFailureIsSticky(t *testing.T) {
	opts, ffs := faultOptions(t, t.TempDir(), 4096)
	l := mustOpen(t, opts)
	seg := SegmentName(0)
	appendN(t, l, 0, 3)
	durable := l.Durable()
	ffs.Inject(Fault{Op: OpSync, Name: seg, Nth: 1})
	if _, err := l.Append(testRecord(3)); err != nil {
		t.Fatal(err)
	}
	err := l.Sync()
	if !errors.Is(err, ErrFailed) || !errors.Is(err, ErrInjected) {
		t.Fatalf("Sync err = %v, want ErrFailed wrapping ErrInjected", err)
	}
	if got := l.Durable(); got != durable {
		t.Fatalf("Durable moved to %s after a failed sync, want %s", got, durable)
	}
	// Later calls fail too, though the injected fault fired only once.
	if err := l.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("second Sync err = %v, want ErrFailed", err)
	}
	if _, err := l.Append(testRecord(4)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after failure err = %v, want ErrFailed", err)
	}
	if err := l.TruncateAfter(0); !errors.Is(err, ErrFailed) {
		t.Fatalf("TruncateAfter after failure err = %v, want ErrFailed", err)
	}
	if !errors.Is(l.Err(), ErrFailed) {
		t.Fatalf("Err = %v, want ErrFailed", l.Err())
	}
	if got, want := ffs.Fired(), 1; got != want {
		t.Fatalf("Fired = %d, want %d", got, want)
	}
}

func TestFaultFS_TornWrite(t *testing.T) {
	dir := t.TempDir()
	opts, ffs := faultOptions(t, dir, 4096)
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 5)
	ffs.Inject(Fault{Op: OpWrite, Name: SegmentName(0), Nth: 1, Torn: true})
	rec := testRecord(5)
	if _, err := l.Append(rec); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append err = %v, want ErrFailed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	opts.FS = OSFS{}
	l = mustOpen(t, opts)
	if got := l.Recovered(); !got.Cut || got.CutAt != recs[4].End() || got.CutBytes != int64(rec.Size()/2) {
		t.Fatalf("Recovered = %+v, want a cut at %s of %d bytes", got, recs[4].End(), rec.Size()/2)
	}
}

func TestFaultFS_RollFailure(t *testing.T) {
	opts, ffs := faultOptions(t, t.TempDir(), 300)
	l := mustOpen(t, opts)
	ffs.Inject(Fault{Op: OpOpen, Sticky: true})
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, err = l.Append(testRecord(i))
	}
	if !errors.Is(err, ErrFailed) || !errors.Is(err, ErrInjected) {
		t.Fatalf("Append across a failed roll err = %v, want ErrFailed", err)
	}
	if got, want := l.Durable(), l.End(); got != want {
		t.Fatalf("Durable = %s, End = %s: the rolled-from segment must be synced", got, want)
	}
}

func TestFaultFS_Deterministic(t *testing.T) {
	pattern := func(seed uint64) []bool {
		ffs := NewFaultFS(OSFS{}, seed)
		ffs.Inject(Fault{Op: OpStat, Prob: 0.5})
		var out []bool
		for range 64 {
			_, err := ffs.Stat(".")
			out = append(out, err != nil)
		}
		return out
	}
	a, b := pattern(7), pattern(7)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, pattern(8)) {
		t.Fatalf("different seeds, same faults")
	}
	if !slices.Contains(a, true) || !slices.Contains(a, false) {
		t.Fatalf("Prob 0.5 gave %v", a)
	}
}

func TestFaultFS_Sticky(t *testing.T) {
	ffs := NewFaultFS(OSFS{}, 1)
	ffs.Inject(Fault{Op: OpSyncDir, Nth: 2, Sticky: true})
	dir := t.TempDir()
	var got []bool
	for range 4 {
		got = append(got, ffs.SyncDir(dir) != nil)
	}
	if want := []bool{false, true, true, true}; !slices.Equal(got, want) {
		t.Fatalf("failures = %v, want %v", got, want)
	}
	ffs.Clear()
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatalf("after Clear: %v", err)
	}
	if got, want := ffs.Calls(OpSyncDir, filepath.Base(dir)), 5; got != want {
		t.Fatalf("Calls = %d, want %d", got, want)
	}
}
