package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogram_buckets(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := rnd.Uint64() >> rnd.IntN(64)
		i := bucketOf(v)
		lo, w := bucketRange(i)
		if v < lo || v-lo >= w {
			t.Fatalf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		if lo >= 2*subCount && float64(w)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d = [%d, +%d) is wider than 1/%d of its value", i, lo, w, subCount)
		}
	}
	if got, want := bucketOf(^uint64(0)), nBuckets-1; got != want {
		t.Errorf("bucketOf(max) = %d, want %d", got, want)
	}
}

func TestHistogram_Quantile(t *testing.T) {
	var h Histogram
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile(0.5) = %v, want 0", got)
	}
	// 1ms, 2ms, ..., 1000ms, recorded out of order.
	for _, i := range rand.New(rand.NewPCG(3, 4)).Perm(1000) {
		h.Record(time.Duration(i+1) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Millisecond},
		{0.5, 500 * time.Millisecond},
		{0.95, 950 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{0.999, 999 * time.Millisecond},
		{1, 1000 * time.Millisecond},
	} {
		got := h.Quantile(tc.q)
		if rel := float64(got-tc.want) / float64(tc.want); rel < -0.008 || rel > 0.008 {
			t.Errorf("Quantile(%v) = %v, want %v within 0.8%%", tc.q, got, tc.want)
		}
	}
	if got, want := h.Min(), time.Millisecond; got != want {
		t.Errorf("Min() = %v, want %v", got, want)
	}
	if got, want := h.Max(), time.Second; got != want {
		t.Errorf("Max() = %v, want %v", got, want)
	}
}

func TestHistogram_Merge(t *testing.T) {
	var a, b, all Histogram
	for i := range 100 {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a != all {
		t.Errorf("merged histogram differs from one that recorded everything")
	}
	// Small values are exact.
	var h Histogram
	for _, d := range []time.Duration{5, 7, 9} {
		h.Record(d)
	}
	if got, want := h.Quantile(0.5), time.Duration(7); got != want {
		t.Errorf("Quantile(0.5) of 5,7,9ns = %v, want %v", got, want)
	}
	// The mean is exact, not a bucket midpoint, and survives Merge.
	var m1, m2 Histogram
	m1.Record(1000 * time.Microsecond)
	m2.Record(1001 * time.Microsecond)
	m2.Record(1005 * time.Microsecond)
	m1.Merge(&m2)
	if got, want := m1.Mean(), 1002*time.Microsecond; got != want {
		t.Errorf("Mean of 1000, 1001, 1005µs = %v, want %v", got, want)
	}
	if got := (&Histogram{}).Mean(); got != 0 {
		t.Errorf("Mean of an empty histogram = %v, want 0", got)
	}
}
