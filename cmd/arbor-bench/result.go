package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// result is one run's figures in the order they are printed. It marshals to
// a JSON object whose keys keep that order, so the JSON line reads like the
// summary (a map would sort "clients" before "mode").
type result struct {
	keys []string
	vals map[string]any
}

func newResult() *result { return &result{vals: map[string]any{}} }

// set adds or replaces a field; a new field goes last.
func (r *result) set(key string, v any) {
	if _, ok := r.vals[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.vals[key] = v
}

func (r *result) get(key string) any { return r.vals[key] }

func (r *result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vj, err := json.Marshal(r.vals[k])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ms converts a duration to milliseconds rounded to microseconds, which is
// finer than the histogram's precision for anything above 0.25 ms.
func ms(d time.Duration) float64 { return round(float64(d)/1e6, 3) }

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// setLatency adds the standard latency fields for h under the given prefix
// ("" for the mode's main latency, "write_" for the watch writer).
func (r *result) setLatency(prefix string, h *Histogram) {
	r.set(prefix+"p50_ms", ms(h.Quantile(0.50)))
	r.set(prefix+"p90_ms", ms(h.Quantile(0.90)))
	r.set(prefix+"p99_ms", ms(h.Quantile(0.99)))
	r.set(prefix+"max_ms", ms(h.Max()))
	r.set(prefix+"mean_ms", ms(h.Mean()))
}

// setErrors adds the error total and the tally by kind.
func (r *result) setErrors(e errCounts) {
	r.set("errors", e.total())
	if e == nil {
		e = errCounts{}
	}
	r.set("error_kinds", map[string]int64(e))
}

// writeLatencyLine prints one human-readable latency line for h.
func writeLatencyLine(w io.Writer, what string, h *Histogram) {
	fmt.Fprintf(w, "%s latency (ms): p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f  (n=%d)\n",
		what, ms(h.Quantile(0.50)), ms(h.Quantile(0.90)), ms(h.Quantile(0.99)),
		ms(h.Max()), ms(h.Mean()), h.Count())
}

// writeErrorsLine prints the error tally, or "errors: 0".
func writeErrorsLine(w io.Writer, e errCounts) {
	if e.total() == 0 {
		fmt.Fprintln(w, "errors: 0")
		return
	}
	fmt.Fprintf(w, "errors: %d (%s)\n", e.total(), e)
}
