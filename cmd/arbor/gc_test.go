package main

import "testing"

func TestGCPercentBoundsHeadroom(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{8 << 20, 800},   // small heap: 64 MB of headroom
		{80 << 20, 100},  // in between: headroom = live, Go's default
		{400 << 20, 24},  // 1M keys: capped at 96 MB
		{4000 << 20, 10}, // never below 10%
		{0, 6400},        // empty heap counts as 1 MB
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}
