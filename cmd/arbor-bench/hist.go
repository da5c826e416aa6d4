package main

import (
	"math"
	"math/bits"
	"time"
)

// The histogram keeps values (nanoseconds) in log-linear buckets, in the
// manner of an HDR histogram: values below 2*subCount each get a bucket of
// their own, and every octave above is split into subCount equal buckets.
// A bucket is then never wider than 1/subCount of its lower bound, so the
// midpoint we report is within 1/(2*subCount) (about 0.4%) of any value in it.
// Memory is bounded by the largest value seen (a few thousand buckets for
// latencies up to minutes), not by the number of values, which is what lets a
// million-write fill run keep every latency.
const (
	subBits  = 7
	subCount = 1 << subBits
)

// Histogram records non-negative durations. It is not safe for concurrent
// use: each load client owns one and they are merged at the end; the watch
// mode, whose watchers share one, wraps it in a mutex.
type Histogram struct {
	counts []uint64 // grown on demand up to the bucket of the largest value
	n      uint64
	sum    float64 // nanoseconds; float so a long run cannot overflow
	min    int64
	max    int64
}

// bucketOf maps a value to its bucket index. Indexes are contiguous: the
// first value of each octave follows the last bucket of the previous one.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1) // v>>shift is in [subCount, 2*subCount)
	return 2*subCount + (shift-1)*subCount + int(v>>shift) - subCount
}

// bucketRange returns the smallest and largest value that map to bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	k := i - 2*subCount
	shift := uint(k/subCount + 1)
	m := uint64(k%subCount + subCount)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one value. Negative durations (a clock oddity) count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	i := bucketOf(uint64(v))
	if i >= len(h.counts) {
		grown := make([]uint64, i+1, max(i+1, 2*len(h.counts)))
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the exact largest recorded value (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact mean (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the value at
// rank ceil(q*n) of the sorted values, to within the bucket precision. It is
// clamped to the exact minimum and maximum, and the first and last ranks
// (e.g. Quantile(1)) are exact.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	switch rank {
	case 1:
		return time.Duration(h.min)
	case h.n:
		return time.Duration(h.max)
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo, hi := bucketRange(i)
			v := int64(lo + (hi-lo)/2)
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable while counts sum to n
}
