package stream

import (
	"testing"

	"github.com/tandem-db/tandem/rlog"
)

// BenchmarkStream_Throughput streams b.N records (about 340 bytes each)
// from a primary's log to a replica's log over loopback TCP, fsyncs
// included, and reports records/s, MB/s of log and the compression ratio.
func BenchmarkStream_Throughput(b *testing.B) {
	for _, zstd := range []bool{false, true} {
		b.Run(map[bool]string{false: "zstd=off", true: "zstd=on"}[zstd], func(b *testing.B) {
			src := newTestSource(b, 1)
			batch := make([]*rlog.Record, 0, 1000)
			for i := range b.N {
				batch = append(batch, testRecord(i, 1))
				if len(batch) == cap(batch) || i == b.N-1 {
					if _, err := src.log.Append(batch...); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			if err := src.log.Sync(); err != nil {
				b.Fatal(err)
			}
			end := src.log.End()
			srv := startServer(b, src, nil, nil)
			sink := newTestSink(b, false)
			b.ResetTimer()
			cl, stop := startClient(b, srv.Addr().String(), sink, nil, func(c *ClientConfig) { c.Compression = zstd })
			flushedTo(b, cl, end)
			b.StopTimer()
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/secs, "records/s")
			b.ReportMetric(float64(end)/secs/1e6, "MB/s")
			b.ReportMetric(cl.Status().Received.Ratio(), "ratio")
			stop()
		})
	}
}
