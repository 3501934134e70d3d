package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 1<<subBits buckets, so a bucket's midpoint is within 1/(2<<subBits),
// under 0.8%, of any value in it.
const (
	subBits  = 6
	subCount = 1 << subBits
	nBuckets = (64 - subBits + 1) * subCount
)

// Histogram records durations in log-linear buckets: exact below 64ns, then
// 64 buckets per power of two. Its size is fixed (about 30 KB) whatever the
// number of values. The zero value is empty and ready. It is not safe for
// concurrent use; give each worker its own and Merge them.
type Histogram struct {
	counts   [nBuckets]uint64
	n        uint64
	min, max time.Duration
	sum      time.Duration // exact, for Mean
}

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [subCount, 2*subCount)
	return e*subCount + int(v>>e)
}

// bucketRange returns the lowest value in bucket i and the bucket's width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*subCount {
		return uint64(i), 1
	}
	e := i/subCount - 1
	m := uint64(i - e*subCount)
	return m << e, 1 << e
}

// Record adds one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest value recorded, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest value recorded, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average of the values recorded, exactly (pgbench's
// "latency average" is this); 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank rule:
// the value at rank ceil(q*n) in sorted order, within the bucket precision
// and clamped to [Min, Max]. It returns 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			v := time.Duration(lo + (w-1)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
