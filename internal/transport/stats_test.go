package transport

import (
	"math"
	"testing"
	"time"
)

func TestLatencyStats(t *testing.T) {
	var s latencyStats
	if s.summary() != (Latency{}) {
		t.Fatal("no samples must summarise to zeros")
	}
	for _, ms := range []int{10, 30, 20} {
		s.observe(time.Duration(ms) * time.Millisecond)
	}
	got := s.summary()
	want := Latency{Current: 20, Average: 20, StandardDeviation: math.Sqrt(200.0 / 3), Minimum: 10, Maximum: 30}
	if math.Abs(got.StandardDeviation-want.StandardDeviation) > 1e-9 {
		t.Fatalf("deviation %v, want %v", got.StandardDeviation, want.StandardDeviation)
	}
	got.StandardDeviation = want.StandardDeviation
	if got != want {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
}

func TestBackoffDoublesToItsCapWithJitter(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 800 * time.Millisecond}
	for _, cur := range []time.Duration{100, 200, 400, 800, 800, 800} {
		cur *= time.Millisecond
		if d := b.next(); d < cur/2 || d > cur {
			t.Fatalf("wait %v outside [%v, %v]", d, cur/2, cur)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset waited %v", d)
	}
}
