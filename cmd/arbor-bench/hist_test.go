package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// maxRelErr is the histogram's promised precision: half a bucket, and a
// bucket is at most 1/subCount of its lower bound wide.
const maxRelErr = 1.0 / (2 * subCount)

func TestBucketsAreContiguous(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < 2*subCount+40*subCount; i++ {
		lo, hi := bucketRange(i)
		if int64(lo) != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if hi < lo {
			t.Fatalf("bucket %d: hi %d < lo %d", i, hi, lo)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf(lo)=%d bucketOf(hi)=%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo > 0 && float64(hi-lo) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d of its start", i, lo, hi, subCount)
		}
		prevHi = int64(hi)
	}
	// The largest durations still map inside the index space.
	if i := bucketOf(math.MaxInt64); i <= 0 {
		t.Fatalf("bucketOf(MaxInt64) = %d", i)
	}
}

// refQuantile is the nearest-rank quantile of sorted values.
func refQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestQuantilesMatchSortedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	dists := map[string]func() int64{
		"tiny exact":  func() int64 { return rng.Int64N(200) },
		"uniform":     func() int64 { return rng.Int64N(int64(50 * time.Millisecond)) },
		"exponential": func() int64 { return int64(rng.ExpFloat64() * float64(2*time.Millisecond)) },
		"lognormal":   func() int64 { return int64(math.Exp(rng.NormFloat64()*2+14)) + 1 },
		"bimodal": func() int64 {
			if rng.IntN(100) == 0 {
				return int64(2*time.Second) + rng.Int64N(int64(time.Second))
			}
			return int64(500*time.Microsecond) + rng.Int64N(int64(time.Millisecond))
		},
	}
	qs := []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1}
	for name, gen := range dists {
		for _, n := range []int{1, 2, 17, 1000, 50000} {
			var h Histogram
			vals := make([]int64, n)
			for i := range vals {
				vals[i] = gen()
				h.Record(time.Duration(vals[i]))
			}
			slices.Sort(vals)
			for _, q := range qs {
				want := refQuantile(vals, q)
				got := int64(h.Quantile(q))
				if diff := math.Abs(float64(got - want)); diff > float64(want)*maxRelErr+0.5 {
					t.Errorf("%s n=%d q=%v: got %d, want %d (rel err %.4f > %.4f)",
						name, n, q, got, want, diff/float64(want), maxRelErr)
				}
			}
			if h.Max() != time.Duration(vals[n-1]) || h.Quantile(1) != time.Duration(vals[n-1]) {
				t.Errorf("%s n=%d: max %d, q(1) %d, want %d", name, n, h.Max(), h.Quantile(1), vals[n-1])
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if got, want := float64(h.Mean()), sum/float64(n); math.Abs(got-want) > 1 {
				t.Errorf("%s n=%d: mean %v, want %v", name, n, got, want)
			}
			if h.Count() != uint64(n) {
				t.Errorf("%s: count %d, want %d", name, h.Count(), n)
			}
		}
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var all Histogram
	parts := make([]Histogram, 4)
	for i := 0; i < 20000; i++ {
		// Part 3 gets only small values so merging grows a shorter slice.
		p := i % 4
		v := time.Duration(rng.Int64N(int64(time.Second)))
		if p == 3 {
			v = time.Duration(rng.Int64N(1000))
		}
		all.Record(v)
		parts[p].Record(v)
	}
	var merged Histogram
	merged.Merge(&Histogram{}) // merging an empty one is a no-op
	for i := len(parts) - 1; i >= 0; i-- {
		merged.Merge(&parts[i])
	}
	for _, q := range []float64{0.01, 0.5, 0.99, 1} {
		if merged.Quantile(q) != all.Quantile(q) {
			t.Errorf("q=%v: merged %v, direct %v", q, merged.Quantile(q), all.Quantile(q))
		}
	}
	if merged.Count() != all.Count() || merged.Max() != all.Max() || merged.Mean() != all.Mean() {
		t.Errorf("merged n=%d max=%v mean=%v; direct n=%d max=%v mean=%v",
			merged.Count(), merged.Max(), merged.Mean(), all.Count(), all.Max(), all.Mean())
	}
}

func TestEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: q50 %v max %v mean %v", h.Quantile(0.5), h.Max(), h.Mean())
	}
	h.Record(-5)
	if h.Quantile(0.5) != 0 || h.Count() != 1 {
		t.Fatalf("negative value: q50 %v count %d", h.Quantile(0.5), h.Count())
	}
}
