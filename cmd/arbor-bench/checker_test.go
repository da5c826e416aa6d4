package main

import (
	"testing"
)

func seq(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestWatchCheckerAccounting(t *testing.T) {
	cases := []struct {
		name     string
		base     uint64
		acked    []uint64
		received []uint64
		want     checkResult
	}{
		{
			name:     "everything once in order",
			base:     10,
			acked:    seq(11, 20),
			received: seq(11, 20),
			want:     checkResult{expected: 10, delivered: 10},
		},
		{
			name:     "nothing received",
			base:     10,
			acked:    seq(11, 15),
			received: nil,
			want:     checkResult{expected: 5, lost: 5},
		},
		{
			name:     "a gap is lost",
			base:     10,
			acked:    seq(11, 15),
			received: []uint64{11, 12, 14, 15},
			want:     checkResult{expected: 5, delivered: 4, lost: 1},
		},
		{
			name:     "repeats are duplicates, delivered once",
			base:     10,
			acked:    seq(11, 13),
			received: []uint64{11, 12, 12, 13, 11},
			want:     checkResult{expected: 3, delivered: 3, duplicates: 2},
		},
		{
			name:     "late arrival is out of order, not lost",
			base:     10,
			acked:    seq(11, 14),
			received: []uint64{11, 13, 14, 12},
			want:     checkResult{expected: 4, delivered: 4, outOfOrder: 1},
		},
		{
			name: "events of unacknowledged or foreign writes are unexpected",
			base: 10,
			// 12 was a write whose response never came; 16 someone else's.
			acked:    []uint64{11, 13, 14, 15},
			received: []uint64{11, 12, 13, 14, 15, 16},
			want:     checkResult{expected: 4, delivered: 4, unexpected: 2},
		},
		{
			name:     "indexes at or below the start are unexpected",
			base:     10,
			acked:    seq(11, 12),
			received: []uint64{9, 10, 11, 12},
			want:     checkResult{expected: 2, delivered: 2, unexpected: 2},
		},
		{
			name:     "acknowledged indexes need not be contiguous",
			base:     100,
			acked:    []uint64{101, 150, 299, 300},
			received: []uint64{101, 150, 300},
			want:     checkResult{expected: 4, delivered: 3, lost: 1},
		},
		{
			name:     "an absurd index is not tracked",
			base:     1,
			acked:    seq(2, 3),
			received: []uint64{2, 3, 1 + maxTrackedSpan + 1},
			want:     checkResult{expected: 2, delivered: 2, unexpected: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newWatchChecker(tc.base)
			for _, idx := range tc.received {
				c.observe(idx)
			}
			got := c.result(tc.acked)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestWatchCheckerObserveReportsFirstReceipt(t *testing.T) {
	c := newWatchChecker(0)
	for _, step := range []struct {
		idx   uint64
		first bool
	}{{1, true}, {1, false}, {70, true}, {3, true}, {70, false}, {0, false}} {
		if got := c.observe(step.idx); got != step.first {
			t.Fatalf("observe(%d) = %v, want %v", step.idx, got, step.first)
		}
	}
	if c.maxIndex != 70 || c.outOfOrder != 1 || c.duplicates != 2 {
		t.Fatalf("max %d outOfOrder %d duplicates %d", c.maxIndex, c.outOfOrder, c.duplicates)
	}
}

func TestCheckResultAdd(t *testing.T) {
	var sum checkResult
	sum.add(checkResult{expected: 3, delivered: 2, lost: 1, duplicates: 4})
	sum.add(checkResult{expected: 3, delivered: 3, outOfOrder: 1, unexpected: 2})
	want := checkResult{expected: 6, delivered: 5, lost: 1, duplicates: 4, outOfOrder: 1, unexpected: 2}
	if sum != want {
		t.Fatalf("got %+v, want %+v", sum, want)
	}
}
