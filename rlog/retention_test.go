package rlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestLog_RemoveBefore(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 400)
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 60)
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.TryNext(); err != nil { // the reader now has segment 0 open
		t.Fatal(err)
	}
	before := l.Segments()
	upTo := recs[30].LSN
	removed, err := l.RemoveBefore(upTo)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range before {
		if s.End <= upTo {
			want = append(want, s.Name)
		}
	}
	if !slices.Equal(removed, want) || len(removed) == 0 {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for _, name := range removed {
		if _, err := os.Stat(filepath.Join(opts.Dir, name)); !os.IsNotExist(err) {
			t.Errorf("segment %s still on disk: %v", name, err)
		}
	}
	if got, want := l.First(), before[len(removed)].First; got != want {
		t.Fatalf("First = %s, want %s", got, want)
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrCompacted) {
		t.Fatalf("reader in removed segment: err = %v, want ErrCompacted", err)
	}
	if _, err := l.NewReader(0); !errors.Is(err, ErrCompacted) {
		t.Fatalf("NewReader(0) err = %v, want ErrCompacted", err)
	}
	// Everything retained is still readable, and a reopen agrees.
	if got := readAll(t, l, l.First()); got[len(got)-1].LSN != recs[59].LSN {
		t.Fatalf("last readable record at %s, want %s", got[len(got)-1].LSN, recs[59].LSN)
	}
	// Never the last segment, however far upTo goes.
	if _, err := l.RemoveBefore(l.End() + 1000); err != nil {
		t.Fatal(err)
	}
	if segs := l.Segments(); len(segs) != 1 || segs[0].End != l.End() {
		t.Fatalf("after removing everything: %+v", segs)
	}
	end := l.End()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, opts)
	if l.End() != end || l.First() != l.Segments()[0].First {
		t.Fatalf("reopened First, End = %s, %s", l.First(), l.End())
	}
}

func TestLog_Hold(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 400)
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 60)
	slot := l.Hold("slot:b", recs[10].LSN)
	backup := l.Hold("backup", recs[20].LSN)
	if got, want := l.Holds(), []HoldInfo{{"backup", recs[20].LSN}, {"slot:b", recs[10].LSN}}; !slices.Equal(got, want) {
		t.Fatalf("Holds = %v, want %v", got, want)
	}
	if _, err := l.RemoveBefore(l.End()); err != nil {
		t.Fatal(err)
	}
	if l.First() > recs[10].LSN {
		t.Fatalf("First = %s passed the hold at %s", l.First(), recs[10].LSN)
	}
	slot.Advance(recs[40].LSN)
	slot.Advance(recs[5].LSN) // backwards: ignored
	if got, want := slot.Position(), recs[40].LSN; got != want {
		t.Fatalf("Position = %s, want %s", got, want)
	}
	if _, err := l.RemoveBefore(l.End()); err != nil {
		t.Fatal(err)
	}
	if f := l.First(); f > recs[20].LSN || f <= recs[10].LSN {
		t.Fatalf("First = %s, want in (%s, %s]", f, recs[10].LSN, recs[20].LSN)
	}
	backup.Release()
	slot.Release()
	slot.Release()
	if got := l.Holds(); len(got) != 0 {
		t.Fatalf("Holds after Release = %v", got)
	}
	if _, err := l.RemoveBefore(l.End()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RemoveBefore(l.End()); err != nil {
		t.Fatal(err)
	}
	if got := len(l.Segments()); got != 1 {
		t.Fatalf("%d segments left, want 1", got)
	}
}

// TestLog_RemoveBefore_Concurrent runs the writer, tailing readers that
// advance their holds, and a compactor together: holds must keep every
// reader clear of ErrCompacted.
func TestLog_RemoveBefore_Concurrent(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 600)
	l := mustOpen(t, opts)
	const total = 500
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 2 {
		h := l.Hold(fmt.Sprintf("reader-%d", i), 0)
		r, err := l.NewReader(0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			defer h.Release()
			for n := range total {
				rec, err := r.Next(ctx)
				if err != nil {
					errs <- fmt.Errorf("record %d: %w", n, err)
					return
				}
				h.Advance(rec.End())
			}
		}()
	}
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.RemoveBefore(l.End()); err != nil {
				errs <- err
				return
			}
			runtime.Gosched()
		}
	}()
	for i := range total {
		if _, err := l.Append(testRecord(i)); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the readers through their holds, then stop the compactor.
	deadline := time.Now().Add(30 * time.Second)
	for len(l.Holds()) > 0 && time.Now().Before(deadline) && len(errs) == 0 {
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := l.RemoveBefore(l.End()); err != nil {
		t.Fatal(err)
	}
	if got := len(l.Segments()); got != 1 {
		t.Errorf("%d segments left after the readers finished, want 1", got)
	}
}
