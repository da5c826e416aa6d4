// Package metric is a dependency-free latency histogram for packages that
// must stay free of net/http (wal, snap): they record into it, and package
// metric/prom exposes it to Prometheus.
package metric

import (
	"math"
	"sync/atomic"
)

// Histogram counts observations into fixed buckets. Safe for concurrent use;
// Observe takes no lock.
type Histogram struct {
	bounds  []float64       // upper bounds, ascending
	buckets []atomic.Uint64 // buckets[i] counts v <= bounds[i]; the last one is +Inf
	count   atomic.Uint64
	sumBits atomic.Uint64 // float64 bits of the sum
}

// NewExponential returns a histogram with n bounds start, start*factor, ...
func NewExponential(start, factor float64, n int) *Histogram {
	h := &Histogram{bounds: make([]float64, n), buckets: make([]atomic.Uint64, n+1)}
	for i := range h.bounds {
		h.bounds[i] = start * math.Pow(factor, float64(i))
	}
	return h
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Read returns the number of observations, their sum, and the cumulative
// count at each upper bound (Prometheus' form).
func (h *Histogram) Read() (count uint64, sum float64, cumulative map[float64]uint64) {
	cumulative = make(map[float64]uint64, len(h.bounds))
	var acc uint64
	for i, b := range h.bounds {
		acc += h.buckets[i].Load()
		cumulative[b] = acc
	}
	return h.count.Load(), math.Float64frombits(h.sumBits.Load()), cumulative
}
