package commitwait

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tandem-db/tandem/lsn"
)

// BenchmarkWaiter_UpdateWake measures one Update from one standby that
// releases 64 pending Waits (a group-commit batch's worth), including the
// wake-ups. Per op: 64 goroutines queue at distinct LSNs, then one Update.
func BenchmarkWaiter_UpdateWake(b *testing.B) {
	const nWaiters = 64
	cfg, _ := Parse("FIRST 1 (n2)")
	w, err := NewWaiter(Options{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	rounds := b.N
	var wg sync.WaitGroup
	var failed atomic.Bool
	for j := range nWaiters {
		wg.Go(func() {
			for r := range rounds {
				if _, err := w.Wait(b.Context(), flush, lsn.LSN(r*nWaiters+j+1)); err != nil {
					b.Error(err)
					failed.Store(true)
					return
				}
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for r := range rounds {
		for w.waiting() < nWaiters {
			if failed.Load() {
				_ = w.Close()
				wg.Wait()
				return
			}
			runtime.Gosched()
		}
		w.Update("n2", at(lsn.LSN((r+1)*nWaiters)))
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*nWaiters), "ns/wake")
}
