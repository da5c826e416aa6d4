package prom

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbor-kv/arbor/internal/metric"
)

func TestHistogramGathered(t *testing.T) {
	h := metric.NewExponential(0.001, 2, 4)
	h.Observe(0.0015)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Histogram("x_seconds", "test", h))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := mfs[0].GetMetric()[0].GetHistogram()
	if mfs[0].GetName() != "x_seconds" || got.GetSampleCount() != 1 || got.GetSampleSum() != 0.0015 {
		t.Fatalf("gathered %v", mfs[0])
	}
}
