package snap

import "github.com/arbor-kv/arbor/internal/metric"

// SaveDuration records how long writing, fsyncing and renaming a snapshot
// took, in seconds (exported as arbor_snap_save_duration_seconds).
var SaveDuration = metric.NewExponential(0.001, 2, 16)
