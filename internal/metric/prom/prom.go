// Package prom exposes metric.Histogram values to Prometheus.
package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbor-kv/arbor/internal/metric"
)

// Histogram returns a collector that reports h under name.
func Histogram(name, help string, h *metric.Histogram) prometheus.Collector {
	return &histogram{desc: prometheus.NewDesc(name, help, nil, nil), h: h}
}

type histogram struct {
	desc *prometheus.Desc
	h    *metric.Histogram
}

func (c *histogram) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *histogram) Collect(ch chan<- prometheus.Metric) {
	count, sum, buckets := c.h.Read()
	ch <- prometheus.MustNewConstHistogram(c.desc, count, sum, buckets)
}
