package wal

import (
	"sync/atomic"

	"github.com/arbor-kv/arbor/internal/metric"
)

// FsyncDuration records the latency of every WAL fdatasync, in seconds
// (exported to Prometheus as arbor_wal_fsync_duration_seconds).
var FsyncDuration = metric.NewExponential(0.0001, 2, 16)

// HeldSyncs counts the fdatasyncs that kept their P (HoldSyncs; exported
// as arbor_wal_held_syncs_total).
var HeldSyncs atomic.Uint64
