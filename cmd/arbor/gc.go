package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// GC headroom policy: allow garbage equal to the live heap, but at least
// minHeadroom (so a small store is not collected needlessly often, which
// costs write throughput) and at most maxHeadroom (so a large store does not
// double its memory: 1M keys of 256 B are ~400 MB live, and RSS follows the
// heap goal). Go's default, GOGC=100, is headroom == live heap, unbounded.
const (
	minHeadroom = 64 << 20
	maxHeadroom = 96 << 20
)

// tuneGC adjusts the GC percent every interval from the live heap, until
// ctx ends. It does nothing when the operator set GOGC or GOMEMLIMIT.
func tuneGC(ctx context.Context, log *slog.Logger, interval time.Duration) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Info("GOGC or GOMEMLIMIT set; leaving the garbage collector as configured")
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := -1
	first := true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if pct := gcPercent(sample[0].Value.Uint64()); pct != last {
				debug.SetGCPercent(pct)
				last = pct
			}
			if first {
				// Start-up (snapshot load) ran with a relaxed GC: hand
				// its garbage back to the OS now rather than keep it.
				debug.FreeOSMemory()
				first = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// gcPercent is the GOGC value that gives the policy's headroom for live.
func gcPercent(live uint64) int {
	live = max(live, 1<<20)
	headroom := min(max(live, minHeadroom), maxHeadroom)
	return int(max(10, headroom*100/live))
}
