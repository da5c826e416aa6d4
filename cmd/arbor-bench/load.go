package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stallThreshold is the latency above which a fill write counts as a stall:
// long enough that no healthy single-machine write takes it, short enough to
// catch a store that pauses writers while it snapshots or compacts.
const stallThreshold = 100 * time.Millisecond

// worker is one load client. Each runs in its own goroutine and owns its
// histogram and tallies, which are merged once all workers have stopped.
type worker struct {
	base   string     // endpoint URL, no trailing slash
	raw    *rawClient // nil: requests go through net/http
	rng    *rand.Rand
	hist   Histogram
	errs   errCounts
	stalls int64
}

// opFunc performs request n of a run on behalf of w and returns "" on
// success or the kind of failure.
type opFunc func(ctx context.Context, w *worker, n int64) string

// driveStats is what drive measured, merged over its workers.
type driveStats struct {
	hist    Histogram
	errs    errCounts
	stalls  int64
	elapsed time.Duration
}

// drive runs clients workers that issue op back to back. Request numbers n
// are handed out from one counter, so with total > 0 exactly total requests
// are issued (numbers 0..total-1, each once: fill relies on it). With dur > 0
// no request starts after dur; requests in flight then still finish, bounded
// by the client timeout, so the run always ends. progress, when not nil, gets
// a line every few seconds.
func drive(ctx context.Context, cfg *config, clients int, total int64, dur time.Duration, seed uint64, op opFunc, progress io.Writer, what string) driveStats {
	var next, done atomic.Int64
	start := time.Now()
	var end time.Time
	if dur > 0 {
		end = start.Add(dur)
	}
	workers := make([]*worker, clients)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{
			base: cfg.endpoints[i%len(cfg.endpoints)],
			rng:  rand.New(rand.NewPCG(seed, uint64(i))),
			errs: errCounts{},
		}
		if cfg.client == "raw" {
			if rc, ok := newRawClient(w.base, cfg.timeout); ok {
				w.raw = rc
				defer rc.close()
			}
		}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil && (end.IsZero() || time.Now().Before(end)) {
				n := next.Add(1) - 1
				if total > 0 && n >= total {
					return
				}
				t0 := time.Now()
				kind := op(ctx, w, n)
				lat := time.Since(t0)
				done.Add(1)
				if kind == "" {
					w.hist.Record(lat)
					if lat > stallThreshold {
						w.stalls++
					}
					continue
				}
				if kind == "canceled" && ctx.Err() != nil {
					return // interrupted by the user, not a server failure
				}
				w.errs.add(kind)
				if kind == "conn" {
					sleepCtx(ctx, 10*time.Millisecond)
				}
			}
		})
	}
	stopProgress := make(chan struct{})
	var pwg sync.WaitGroup
	if progress != nil {
		pwg.Go(func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			var last int64
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					d := done.Load()
					if total > 0 {
						fmt.Fprintf(progress, "%s: %d/%d (%.1f%%), %.0f ops/s over the last 5 s\n",
							what, d, total, 100*float64(d)/float64(total), float64(d-last)/5)
					} else {
						fmt.Fprintf(progress, "%s: %d ops, %.0f ops/s over the last 5 s\n", what, d, float64(d-last)/5)
					}
					last = d
				}
			}
		})
	}
	wg.Wait()
	close(stopProgress)
	pwg.Wait()
	st := driveStats{errs: errCounts{}, elapsed: time.Since(start)}
	for _, w := range workers {
		st.hist.Merge(&w.hist)
		st.errs.merge(w.errs)
		st.stalls += w.stalls
	}
	return st
}

// putOp returns an op that PUTs form to the key keyOf(w, n).
func putOp(hc *http.Client, prefix string, form []byte, keyOf func(w *worker, n int64) string) opFunc {
	return func(ctx context.Context, w *worker, n int64) string {
		return w.request(ctx, hc, http.MethodPut, prefix+"/"+keyOf(w, n), form)
	}
}

// request sends one keys request (keyPath may carry a query) through the
// worker's raw connection or net/http, and returns "" or the failure kind.
func (w *worker) request(ctx context.Context, hc *http.Client, method, keyPath string, form []byte) string {
	var (
		status int
		body   []byte
		err    error
	)
	if w.raw != nil {
		status, body, err = w.raw.do(method, w.raw.basePath+"/v2/keys"+keyPath, form, false)
		if err != nil {
			if ctx.Err() != nil {
				return "canceled"
			}
			return rawKind(err)
		}
	} else if status, body, err = doHTTP(ctx, hc, method, keysURL(w.base, keyPath), form, false); err != nil {
		return transportKind(err)
	}
	if status/100 != 2 {
		return statusKind(status, body)
	}
	return ""
}

// randomValue returns n random letters and digits: printable, and safe in an
// urlencoded form without escaping, so the body is built once.
func randomValue(n int, rng *rand.Rand) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

// caseName identifies what a run measured, so the table can line up the same
// case run against different servers.
func caseName(cfg *config, mode string) string {
	switch mode {
	case "get":
		if cfg.quorum {
			return fmt.Sprintf("get quorum c=%d", cfg.clients)
		}
		return fmt.Sprintf("get c=%d", cfg.clients)
	case "fill":
		return fmt.Sprintf("fill n=%d v=%d", cfg.keys, cfg.valueSize)
	case "watch":
		return fmt.Sprintf("watch %s w=%d r=%d", cfg.watchMode, cfg.watchers, cfg.rate)
	default:
		return fmt.Sprintf("%s c=%d", mode, cfg.clients)
	}
}

// runLoad runs put, get or fill and returns the result and its human summary.
func runLoad(ctx context.Context, cfg *config, mode string) (*result, func(io.Writer), error) {
	width := keyWidth(cfg)
	form := append([]byte("value="), randomValue(cfg.valueSize, rand.New(rand.NewPCG(cfg.seed, 0xbe9c4)))...)
	tr := newTransport(cfg.clients, cfg.tls)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: cfg.timeout}

	res := newResult()
	res.set("mode", mode)
	res.set("case", caseName(cfg, mode))
	if cfg.label != "" {
		res.set("label", cfg.label)
	}
	res.set("clients", cfg.clients)
	res.set("endpoints", len(cfg.endpoints))

	var pre *preloadStats
	if mode == "get" && !cfg.noPreload {
		var err error
		pre, err = preload(ctx, cfg, hc, width, form)
		if err != nil {
			return nil, nil, err
		}
	}

	total, dur := cfg.total, cfg.duration
	if mode == "fill" {
		total = int64(cfg.keys)
	}
	if total > 0 && !cfg.durationSet {
		dur = 0 // bounded by the count alone
	}

	var op opFunc
	switch mode {
	case "put":
		keys := int64(cfg.keys)
		op = putOp(hc, cfg.prefix, form, func(w *worker, _ int64) string { return keyName(w.rng.Int64N(keys), width) })
	case "fill":
		op = putOp(hc, cfg.prefix, form, func(_ *worker, n int64) string { return keyName(n, width) })
	case "get":
		keys := int64(cfg.keys)
		query := ""
		if cfg.quorum {
			query = "?quorum=true"
		}
		op = func(ctx context.Context, w *worker, _ int64) string {
			return w.request(ctx, hc, http.MethodGet, cfg.prefix+"/"+keyName(w.rng.Int64N(keys), width)+query, nil)
		}
	}
	var progress io.Writer
	if mode == "fill" {
		progress = cfg.progress
	}
	st := drive(ctx, cfg, cfg.clients, total, dur, cfg.seed, op, progress, mode)

	ops := int64(st.hist.Count())
	secs := st.elapsed.Seconds()
	res.set("ops", ops)
	res.set("duration_s", round(secs, 3))
	res.set("ops_per_sec", round(float64(ops)/secs, 1))
	res.setLatency("", &st.hist)
	res.setErrors(st.errs)
	if mode == "get" {
		res.set("quorum", cfg.quorum)
		if pre != nil {
			res.set("preload_written", pre.written)
			res.set("preload_errors", pre.errs.total())
			res.set("preload_s", round(pre.took.Seconds(), 3))
		}
	}
	var rss rssInfo
	var rssErr error
	if mode == "fill" {
		res.set("keys", cfg.keys)
		res.set("value_size", cfg.valueSize)
		res.set("stalls_100ms", st.stalls)
		if cfg.rssPID > 0 {
			rss, rssErr = readRSS(cfg.rssPID)
			if rssErr == nil {
				res.set("rss_kb", rss.rssKB)
				res.set("rss_peak_kb", rss.peakKB)
			}
		}
	}

	human := func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d clients on %d endpoint(s), %.2f s\n", res.get("case"), cfg.clients, len(cfg.endpoints), secs)
		if pre != nil {
			fmt.Fprintf(w, "preload: wrote %d missing keys in %.2f s (%d errors)\n", pre.written, pre.took.Seconds(), pre.errs.total())
		}
		fmt.Fprintf(w, "ops: %d (%.1f ops/s)\n", ops, float64(ops)/secs)
		writeLatencyLine(w, mode, &st.hist)
		if mode == "fill" {
			fmt.Fprintf(w, "stalls (> %v): %d\n", stallThreshold, st.stalls)
			switch {
			case cfg.rssPID > 0 && rssErr != nil:
				fmt.Fprintf(w, "rss: %v\n", rssErr)
			case cfg.rssPID > 0:
				fmt.Fprintf(w, "server rss: %.1f MiB (peak %.1f MiB)\n", float64(rss.rssKB)/1024, float64(rss.peakKB)/1024)
			}
		}
		writeErrorsLine(w, st.errs)
	}
	return res, human, nil
}

// preloadStats describes the writes get made before reading.
type preloadStats struct {
	written int64
	errs    errCounts
	took    time.Duration
}

// preload makes every key of the key space exist, so a get run measures
// reads rather than 404s. It lists -prefix once and writes only the keys
// that are missing, so a get right after a put run (or a second get) costs
// little.
func preload(ctx context.Context, cfg *config, hc *http.Client, width int, form []byte) (*preloadStats, error) {
	start := time.Now()
	status, body, err := doHTTP(ctx, hc, http.MethodGet, keysURL(cfg.endpoints[0], cfg.prefix), nil, true)
	if err != nil {
		return nil, fmt.Errorf("preload: list %s: %w", cfg.prefix, err)
	}
	existing := map[string]bool{}
	switch {
	case status == http.StatusOK:
		var listing struct {
			Node struct {
				Nodes []struct {
					Key string `json:"key"`
				} `json:"nodes"`
			} `json:"node"`
		}
		if err := json.Unmarshal(body, &listing); err != nil {
			return nil, fmt.Errorf("preload: list %s: %w", cfg.prefix, err)
		}
		for _, n := range listing.Node.Nodes {
			existing[strings.TrimPrefix(n.Key, cfg.prefix+"/")] = true
		}
	case status == http.StatusNotFound:
		// Nothing written yet.
	default:
		return nil, fmt.Errorf("preload: list %s: %s", cfg.prefix, statusKind(status, body))
	}
	var missing []int64
	for i := int64(0); i < int64(cfg.keys); i++ {
		if !existing[keyName(i, width)] {
			missing = append(missing, i)
		}
	}
	st := &preloadStats{errs: errCounts{}}
	if len(missing) > 0 {
		op := putOp(hc, cfg.prefix, form, func(_ *worker, n int64) string { return keyName(missing[n], width) })
		ds := drive(ctx, cfg, cfg.clients, int64(len(missing)), 0, cfg.seed+1, op, nil, "preload")
		st.written = int64(ds.hist.Count())
		st.errs = ds.errs
	}
	st.took = time.Since(start)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("preload: %w", ctx.Err())
	}
	return st, nil
}

// rssInfo is a process's resident set size from /proc, in KiB.
type rssInfo struct {
	rssKB, peakKB int64
}

// readRSS reads VmRSS and VmHWM (the peak) of pid.
func readRSS(pid int) (rssInfo, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rssInfo{}, fmt.Errorf("rss of pid %d: %w", pid, err)
	}
	defer f.Close()
	var info rssInfo
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest) // "123456 kB"
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return rssInfo{}, fmt.Errorf("rss of pid %d: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			info.rssKB, found = v, true
		} else {
			info.peakKB = v
		}
	}
	if err := sc.Err(); err != nil {
		return rssInfo{}, fmt.Errorf("rss of pid %d: %w", pid, err)
	}
	if !found {
		return rssInfo{}, errors.New("rss: no VmRSS line (a kernel thread or zombie?)")
	}
	return info, nil
}
