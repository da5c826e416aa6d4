package snap

import "github.com/prometheus/client_golang/prometheus"

var saveDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "arbor_snap_save_duration_seconds",
	Help:    "Time to write, fsync and rename a snapshot file.",
	Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
})

// Collectors returns the package's metrics for the caller to register.
func Collectors() []prometheus.Collector { return []prometheus.Collector{saveDuration} }
