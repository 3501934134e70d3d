package rlog

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tandem-db/tandem/lsn"
)

func TestReader_Next_Tailing(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 700)
	l := mustOpen(t, opts)
	const total = 400
	const readers = 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		r, err := l.NewReader(0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for i := range total {
				rec, err := r.Next(ctx)
				if err != nil {
					errs <- err
					return
				}
				if rec.End() > l.Durable() {
					errs <- errors.New("reader returned a record beyond Durable")
					return
				}
				if err := sameRecord(rec, withLSN(testRecord(i), rec.LSN)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// The writer: batches of varying size, a Sync after each.
	for i := 0; i < total; {
		n := min(1+i%7, total-i)
		batch := make([]*Record, n)
		for j := range batch {
			batch[j] = testRecord(i + j)
		}
		if _, err := l.Append(batch...); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func withLSN(r *Record, at lsn.LSN) *Record { r.LSN = at; return r }

func TestReader_Next_WaitsForSync(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 4096)
	l := mustOpen(t, opts)
	r, err := l.NewReader(l.End())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan *Record, 1)
	go func() {
		rec, err := r.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- rec
	}()
	rec := testRecord(0)
	if _, err := l.Append(rec); err != nil {
		t.Fatal(err)
	}
	other, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.TryNext(); !errors.Is(err, io.EOF) {
		t.Fatalf("unsynced record visible: TryNext err = %v, want io.EOF", err)
	}
	select {
	case <-got:
		t.Fatal("Next returned before Sync")
	default:
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if err := sameRecord(g, rec); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not wake on Sync")
	}
}

func TestReader_Next_ContextCancel(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 4096)
	l := mustOpen(t, opts)
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Next(ctx)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return on cancel")
	}
}

func TestReader_Next_LogClosed(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 4096)
	l := mustOpen(t, opts)
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		_, err := r.Next(context.Background())
		done <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next err = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return on Close")
	}
}

func TestLog_NewReader_Middle(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 400)
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 60)
	for _, from := range []int{1, 7, 30, 59} {
		got := readAll(t, l, recs[from].LSN)
		if len(got) != len(recs)-from {
			t.Fatalf("from record %d: read %d records, want %d", from, len(got), len(recs)-from)
		}
		for i, g := range got {
			if err := sameRecord(g, recs[from+i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := readAll(t, l, l.End()); len(got) != 0 {
		t.Fatalf("reader at end read %d records", len(got))
	}
}

func TestLog_NewReader_NotBoundary(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 400)
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 10)
	for _, at := range []lsn.LSN{1, recs[3].LSN + 4, recs[3].LSN + 8, recs[9].End() - 1} {
		if _, err := l.NewReader(at); !errors.Is(err, ErrNotBoundary) {
			t.Errorf("NewReader(%s) err = %v, want ErrNotBoundary", at, err)
		}
	}
	if _, err := l.NewReader(l.End() + 1); !errors.Is(err, ErrBeyondEnd) {
		t.Errorf("NewReader past end err = %v, want ErrBeyondEnd", err)
	}
}
