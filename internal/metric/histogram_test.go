package metric

import (
	"sync"
	"testing"
)

func TestHistogramBucketsAndSum(t *testing.T) {
	h := NewExponential(1, 2, 3) // bounds 1, 2, 4
	for _, v := range []float64{0.5, 1, 1.5, 3, 100} {
		h.Observe(v)
	}
	count, sum, cum := h.Read()
	if count != 5 || sum != 106 {
		t.Fatalf("count %d sum %v", count, sum)
	}
	for b, want := range map[float64]uint64{1: 2, 2: 3, 4: 4} {
		if cum[b] != want {
			t.Errorf("le %v: %d, want %d", b, cum[b], want)
		}
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewExponential(0.001, 2, 10)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Observe(0.5)
			}
		}()
	}
	wg.Wait()
	if count, sum, _ := h.Read(); count != 8000 || sum != 4000 {
		t.Fatalf("count %d sum %v", count, sum)
	}
}
