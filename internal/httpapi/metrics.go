package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// The collectors are package-level so that every handler in the process
// (tests build many) feeds the same series, and are not registered here:
// whoever owns the registry (cmd/arbor) registers Collectors() once.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "arbor",
		Subsystem: "http",
		Name:      "requests_total",
		Help:      "Client-port HTTP requests answered, by method and status code.",
	}, []string{"method", "code"})

	// Watches are left out: a long poll lasts as long as nothing happens,
	// and would drown the latency of every other request.
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "arbor",
		Subsystem: "http",
		Name:      "request_duration_seconds",
		Help:      "Latency of client-port HTTP requests other than watches, by method.",
		Buckets:   prometheus.ExponentialBuckets(0.0001, 2, 18), // 100µs .. ~13s
	}, []string{"method"})

	watchesActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "arbor",
		Subsystem: "http",
		Name:      "watches_active",
		Help:      "Watch requests (long polls and streams) currently open.",
	})
)

// Collectors returns the package's metrics, unregistered. Register them once
// per process.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{requestsTotal, requestDuration, watchesActive}
}

// methodLabel bounds the label's cardinality: a client can send any token
// as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
