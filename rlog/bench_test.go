package rlog

import (
	"fmt"
	"io"
	"testing"
)

func benchRecord() *Record {
	r := testRecord(1)
	r.Payload = make([]byte, 200-RecordOverhead)
	return r
}

func BenchmarkLog_Append(b *testing.B) {
	opts, _ := testOptions(b, b.TempDir(), DefaultSegmentSize)
	l := mustOpen(b, opts)
	rec := benchRecord()
	b.SetBytes(int64(rec.Size()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLog_AppendSync is the group-commit hot path: append a batch,
// fsync. prealloc=false writes extend the file (NoPreallocate); with
// prealloc=true they land in space fallocate reserved.
func BenchmarkLog_AppendSync(b *testing.B) {
	for _, prealloc := range []bool{true, false} {
		for _, batch := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("prealloc=%v/batch=%d", prealloc, batch), func(b *testing.B) {
				opts, _ := testOptions(b, b.TempDir(), DefaultSegmentSize)
				opts.NoPreallocate = !prealloc
				l := mustOpen(b, opts)
				recs := make([]*Record, batch)
				for i := range recs {
					recs[i] = benchRecord()
				}
				b.SetBytes(int64(batch * recs[0].Size()))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := l.Append(recs...); err != nil {
						b.Fatal(err)
					}
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkReader_TryNext(b *testing.B) {
	opts, _ := testOptions(b, b.TempDir(), DefaultSegmentSize)
	l := mustOpen(b, opts)
	rec := benchRecord()
	const n = 20000
	for range n {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(rec.Size()))
	b.ReportAllocs()
	r, err := l.NewReader(0)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { r.Close() }()
	for b.Loop() {
		if _, err := r.TryNext(); err == io.EOF {
			r.Close()
			if r, err = l.NewReader(0); err != nil {
				b.Fatal(err)
			}
		} else if err != nil {
			b.Fatal(err)
		}
	}
}
