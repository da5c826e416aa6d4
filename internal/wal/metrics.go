package wal

import "github.com/prometheus/client_golang/prometheus"

var fsyncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "arbor_wal_fsync_duration_seconds",
	Help:    "Latency of WAL fdatasync calls.",
	Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
})

// Collectors returns the package's metrics for the caller to register.
func Collectors() []prometheus.Collector { return []prometheus.Collector{fsyncDuration} }
