package raftnode

import (
	"math"
	"testing"
	"time"
)

func TestRateWindow(t *testing.T) {
	var w rateWindow
	t0 := time.Unix(1000, 0)
	if r := w.rate(t0); r != (Rate{}) {
		t.Fatalf("empty window: %+v", r)
	}
	w.add(t0, 100)
	if r := w.rate(t0); r != (Rate{}) {
		t.Fatalf("one sample spans no time, want zero: %+v", r)
	}
	// 11 appends of 100 bytes, 10 ms apart: 11 over 100 ms.
	for i := 1; i <= 10; i++ {
		w.add(t0.Add(time.Duration(i)*10*time.Millisecond), 100)
	}
	newest := t0.Add(100 * time.Millisecond)
	r := w.rate(newest)
	if math.Abs(r.Packets-110) > 1e-9 || math.Abs(r.Bytes-11000) > 1e-6 {
		t.Fatalf("rate %+v, want 110 packets/s and 11000 bytes/s", r)
	}
	if r := w.rate(newest.Add(rateQuiet + time.Millisecond)); r != (Rate{}) {
		t.Fatalf("quiet for over %v, want zero: %+v", rateQuiet, r)
	}
}

func TestRateWindowKeepsOnlyTheLatest(t *testing.T) {
	var w rateWindow
	t0 := time.Unix(1000, 0)
	// A slow, large start that must fall out of the window entirely.
	for i := range 50 {
		w.add(t0.Add(time.Duration(i)*time.Second), 1<<20)
	}
	start := t0.Add(time.Hour)
	for i := range rateSamples {
		w.add(start.Add(time.Duration(i)*time.Millisecond), 10)
	}
	r := w.rate(start.Add(time.Duration(rateSamples-1) * time.Millisecond))
	span := float64(rateSamples-1) / 1000
	if want := rateSamples / span; math.Abs(r.Packets-want) > 1e-6 {
		t.Errorf("packets %v, want %v", r.Packets, want)
	}
	if want := 10 * rateSamples / span; math.Abs(r.Bytes-want) > 1e-6 {
		t.Errorf("bytes %v, want %v (old samples' sizes not forgotten?)", r.Bytes, want)
	}
}
