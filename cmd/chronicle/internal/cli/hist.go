package cli

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits sets the histogram's precision: values of 256 ns and more
// fall into buckets 1/128 of a power of two wide, so a reported percentile
// is within 0.4% of the true sample value. Values below 256 ns are exact.
const histSubBits = 7

const (
	histExact   = 1 << (histSubBits + 1)                    // 256 exact buckets
	histBuckets = histExact + (63-histSubBits)<<histSubBits // up to 2^63 ns
)

// hist is a log-linear latency histogram in nanoseconds. It keeps memory
// constant however many samples it gets (W5 records one per delivery, tens
// of millions), while min, max, count and sum stay exact.
type hist struct {
	counts   []uint64
	n        uint64
	min, max int64
	sum      float64
}

func newHist() *hist { return &hist{counts: make([]uint64, histBuckets), min: math.MaxInt64} }

func histBucket(v int64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (histSubBits + 1) // >= 1
	top := int(uint64(v) >> shift)                     // in [128, 256)
	return histExact + (shift-1)<<histSubBits + top - 1<<histSubBits
}

// histValue is the midpoint of bucket i.
func histValue(i int) int64 {
	if i < histExact {
		return int64(i)
	}
	i -= histExact
	shift := i>>histSubBits + 1
	top := int64(i&(1<<histSubBits-1) + 1<<histSubBits)
	return top<<shift + (1<<shift)/2
}

func (h *hist) record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histBucket(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// quantile returns the nearest-rank p-quantile (the sample of rank
// ceil(p·n), as cbench computes it), within the bucket precision.
func (h *hist) quantile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(histValue(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *hist) maximum() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
