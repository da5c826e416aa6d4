package transport

import (
	"math"
	"time"
)

// Latency summarises stream round trips to one peer, in milliseconds, under
// the names /v2/stats/leader uses for a follower's latency.
type Latency struct {
	Current           float64 `json:"current"`
	Average           float64 `json:"average"`
	StandardDeviation float64 `json:"standardDeviation"`
	Minimum           float64 `json:"minimum"`
	Maximum           float64 `json:"maximum"`
}

// Counts are messages to one peer, as /v2/stats/leader counts them.
type Counts struct {
	// Fail counts messages dropped (queue full, lost with a broken
	// connection) and snapshots that failed.
	Fail uint64 `json:"fail"`
	// Success counts messages written to the peer's stream and snapshots
	// it acknowledged.
	Success uint64 `json:"success"`
}

// PeerStatus is one peer as this member's transport sees it.
type PeerStatus struct {
	ID   uint64
	URLs []string
	// Connected is true while a stream to the peer is up; URL is the one
	// it uses and ActiveSince when it came up (both zero while down).
	Connected   bool
	URL         string
	ActiveSince time.Time
	Latency     Latency
	Counts      Counts
	// Batches counts writes that carried messages; Counts.Success divided by
	// Batches is the average batch size.
	Batches uint64
	// LastError is why the last connection attempt or stream failed.
	LastError string
}

// latencyStats accumulates round trips with Welford's method, so the
// deviation stays accurate over millions of samples.
type latencyStats struct {
	n                 uint64
	current, min, max time.Duration
	mean, m2          float64 // in milliseconds
}

func (s *latencyStats) observe(d time.Duration) {
	s.n++
	s.current = d
	if s.n == 1 || d < s.min {
		s.min = d
	}
	if d > s.max {
		s.max = d
	}
	ms := millis(d)
	delta := ms - s.mean
	s.mean += delta / float64(s.n)
	s.m2 += delta * (ms - s.mean)
}

func (s *latencyStats) summary() Latency {
	if s.n == 0 {
		return Latency{}
	}
	return Latency{
		Current:           millis(s.current),
		Average:           s.mean,
		StandardDeviation: math.Sqrt(s.m2 / float64(s.n)),
		Minimum:           millis(s.min),
		Maximum:           millis(s.max),
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
