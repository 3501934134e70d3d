package rlog

import (
	"context"
	"errors"
	"io"
	"testing"
)

func TestLog_TruncateAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep int // records kept
	}{
		{"within last segment", 38},
		{"across segments", 12},
		{"at a segment start", -1},
		{"everything", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, _ := testOptions(t, t.TempDir(), 500)
			l := mustOpen(t, opts)
			recs := appendN(t, l, 0, 40)
			keep := tc.keep
			if keep < 0 { // the first record of the second segment
				second := l.Segments()[1].First
				for i, r := range recs {
					if r.LSN == second {
						keep = i
					}
				}
			}
			end := recs[keep].LSN
			// A reader that reaches the new end before the cut keeps working,
			// even though its buffer holds bytes of the records cut.
			start := max(keep-2, 0)
			before, err := l.NewReader(recs[start].LSN)
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close()
			for range keep - start {
				if _, err := before.TryNext(); err != nil {
					t.Fatal(err)
				}
			}
			after, err := l.NewReader(recs[39].LSN) // past it: rewound
			if err != nil {
				t.Fatal(err)
			}
			defer after.Close()

			if err := l.TruncateAfter(end); err != nil {
				t.Fatal(err)
			}
			if l.End() != end || l.Durable() != end {
				t.Fatalf("End, Durable = %s, %s; want %s", l.End(), l.Durable(), end)
			}
			segs := l.Segments()
			if last := segs[len(segs)-1]; last.End != end {
				t.Fatalf("last segment %+v does not end at %s", last, end)
			}
			if _, err := after.TryNext(); !errors.Is(err, ErrRewound) {
				t.Fatalf("reader past the cut: err = %v, want ErrRewound", err)
			}
			if _, err := after.TryNext(); !errors.Is(err, ErrRewound) {
				t.Fatalf("reader past the cut, again: err = %v, want ErrRewound", err)
			}
			if _, err := before.TryNext(); !errors.Is(err, io.EOF) {
				t.Fatalf("reader at the cut: err = %v, want io.EOF", err)
			}
			more := appendN(t, l, 100, 3)
			if more[0].LSN != end {
				t.Fatalf("next record at %s, want %s", more[0].LSN, end)
			}
			rec, err := before.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := sameRecord(rec, more[0]); err != nil {
				t.Fatalf("reader at the cut read the old tail: %v", err)
			}
			want := append(recs[:keep:keep], more...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, opts)
			got := readAll(t, l, 0)
			if len(got) != len(want) {
				t.Fatalf("after reopen: %d records, want %d", len(got), len(want))
			}
			for i := range got {
				if err := sameRecord(got[i], want[i]); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestLog_TruncateAfter_Errors(t *testing.T) {
	opts, _ := testOptions(t, t.TempDir(), 500)
	l := mustOpen(t, opts)
	recs := appendN(t, l, 0, 10)
	if err := l.TruncateAfter(recs[4].LSN + 3); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("mid-record err = %v, want ErrNotBoundary", err)
	}
	if err := l.TruncateAfter(l.End() + 1); !errors.Is(err, ErrBeyondEnd) {
		t.Fatalf("past end err = %v, want ErrBeyondEnd", err)
	}
	if err := l.TruncateAfter(l.End()); err != nil {
		t.Fatalf("at end err = %v, want nil", err)
	}
	if l.Err() != nil {
		t.Fatalf("a rejected TruncateAfter failed the log: %v", l.Err())
	}
}
