package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// seqDigits is the width of the write number at the start of every value the
// watch writer sends. A watcher reads it back from the event to find when the
// write was sent, before the writer has even seen the write's index.
const seqDigits = 12

// maxTrackedSpan bounds the index range one checker tracks (one bit per
// index): an index absurdly far past the start is counted as unexpected
// rather than allowed to allocate gigabytes.
const maxTrackedSpan = 1 << 26

// watchChecker verifies one watcher's event sequence against the writes. It
// remembers which indexes above base were received, so it can tell at the
// end which acknowledged writes were delivered, and on the fly whether an
// event repeats one already seen or arrives after a later one. Owned by one
// watcher goroutine; read by the run only after that goroutine ended.
type watchChecker struct {
	base uint64   // the store index when watching began; writes are above it
	seen []uint64 // bit i set: index base+1+i was received

	// Invariant: every observed event is counted in exactly one of
	// distinct, duplicates and outOfRange; outOfOrder counts a subset of
	// distinct.
	distinct   int64  // different indexes above base received
	duplicates int64  // events whose index had already been received
	outOfOrder int64  // first receipts of an index lower than one received earlier
	outOfRange int64  // indexes at or below base, or beyond maxTrackedSpan
	maxIndex   uint64 // highest index received so far (0: none)
}

func newWatchChecker(base uint64) *watchChecker { return &watchChecker{base: base} }

// observe records the receipt of an event with the given modifiedIndex and
// reports whether it was the first receipt of that index.
func (c *watchChecker) observe(idx uint64) bool {
	if idx <= c.base || idx-c.base > maxTrackedSpan {
		c.outOfRange++
		return false
	}
	off := idx - c.base - 1
	word := int(off / 64)
	if word >= len(c.seen) {
		c.seen = append(c.seen, make([]uint64, word+1-len(c.seen))...)
	}
	bit := uint64(1) << (off % 64)
	if c.seen[word]&bit != 0 {
		c.duplicates++
		return false
	}
	c.seen[word] |= bit
	c.distinct++
	if idx < c.maxIndex {
		c.outOfOrder++
	} else {
		c.maxIndex = idx
	}
	return true
}

func (c *watchChecker) has(idx uint64) bool {
	if idx <= c.base || idx-c.base > maxTrackedSpan {
		return false
	}
	off := idx - c.base - 1
	word := int(off / 64)
	return word < len(c.seen) && c.seen[word]&(uint64(1)<<(off%64)) != 0
}

// checkResult is one watcher's (or, summed, all watchers') accounting.
type checkResult struct {
	expected   int64 // acknowledged writes the watcher should have seen
	delivered  int64 // of those, how many it received
	lost       int64 // expected - delivered
	duplicates int64
	outOfOrder int64
	unexpected int64 // received events that match no acknowledged write
}

func (r *checkResult) add(o checkResult) {
	r.expected += o.expected
	r.delivered += o.delivered
	r.lost += o.lost
	r.duplicates += o.duplicates
	r.outOfOrder += o.outOfOrder
	r.unexpected += o.unexpected
}

// result compares what was received with the indexes of the acknowledged
// writes (no duplicates; any order). An event for a write whose response
// never came (a timeout) is unexpected, not delivered: it cannot be told
// apart from a stray write by someone else.
func (c *watchChecker) result(acked []uint64) checkResult {
	r := checkResult{
		expected:   int64(len(acked)),
		duplicates: c.duplicates,
		outOfOrder: c.outOfOrder,
	}
	for _, idx := range acked {
		if c.has(idx) {
			r.delivered++
		}
	}
	r.lost = r.expected - r.delivered
	r.unexpected = c.distinct - r.delivered + c.outOfRange
	return r
}

// v2Event is the part of a v2 write response the writer needs: the index
// the write was given. (Watchers use the faster parseEvent.)
type v2Event struct {
	Action string `json:"action"`
	Node   struct {
		Key           string `json:"key"`
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
}

// lockedHist is a Histogram shared by all watchers: one histogram per
// watcher would cost tens of KiB each for a thousand watchers.
type lockedHist struct {
	mu sync.Mutex // guards h
	h  Histogram
}

func (l *lockedHist) record(d time.Duration) {
	l.mu.Lock()
	l.h.Record(d)
	l.mu.Unlock()
}

// watchRun is the state of one watch run shared by the writer and watchers.
type watchRun struct {
	cfg    *config
	client *http.Client // no timeout: watches wait as long as the run lasts
	t0     time.Time    // time origin of sentAt
	base   uint64       // store index before watching began

	// sentAt[seq] is when write seq was sent, in ns since t0 (0: not sent).
	// Written by the writer before the request goes out, so a watcher that
	// receives the event always finds it.
	sentAt []atomic.Int64

	delivery lockedHist // send-to-receipt latency of first receipts
	errs     syncErrCounts
}

// watcher is one watching client.
type watcher struct {
	base     string // endpoint URL
	chk      *watchChecker
	last     atomic.Uint64 // highest index received, for the drain
	cleared  int64         // 401 "event index cleared" answers
	restarts int64         // streams the server ended before the run did
	empty    int64         // long polls answered 200 without an event
}

// watchURL is the watch request for events from index next on.
func (r *watchRun) watchURL(w *watcher, next uint64) string {
	u := keysURL(w.base, r.cfg.prefix) + "?wait=true&recursive=true&waitIndex=" + strconv.FormatUint(next, 10)
	if r.cfg.watchMode == "stream" {
		u += "&stream=true"
	}
	return u
}

// receive handles one event: checker, drain progress and latency.
func (r *watchRun) receive(w *watcher, ev eventFields) {
	now := time.Since(r.t0)
	if !w.chk.observe(ev.index) {
		return
	}
	if ev.index > w.last.Load() {
		w.last.Store(ev.index)
	}
	if len(ev.value) < seqDigits {
		return
	}
	seq, err := parseUint(ev.value[:seqDigits])
	if err != nil || seq >= uint64(len(r.sentAt)) {
		return
	}
	if sent := r.sentAt[seq].Load(); sent > 0 {
		r.delivery.record(now - time.Duration(sent))
	}
}

// watch is a watcher's loop. Like a real client it resumes after every event
// (long poll) or every broken stream from the index after the last event it
// saw, so no event is missed unless the server drops it; after a 401 it
// resumes from the index the error names, and the events in between are
// lost. ready is signalled once, when the server first answers with
// headers: the server has registered the watch by then.
func (r *watchRun) watch(ctx context.Context, w *watcher, ready func()) {
	next := r.base + 1
	signalled := false
	er := newEventReader(nil)
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.watchURL(w, next), nil)
		if err != nil {
			r.errs.add("request")
			return
		}
		resp, err := r.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.errs.add(transportKind(err))
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if e, ok := parseAPIError(body); ok && e.ErrorCode == 401 {
				w.cleared++
				if e.Index >= next {
					next = e.Index + 1
				} else {
					// Nothing to skip to: do not spin on the same answer.
					sleepCtx(ctx, 50*time.Millisecond)
				}
				continue
			}
			r.errs.add(statusKind(resp.StatusCode, body))
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		if !signalled {
			signalled = true
			ready()
		}
		er.reset(resp.Body)
		got := 0
		for {
			raw, err := er.next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, io.EOF) {
					r.errs.add(bodyErrKind(err))
				}
				break
			}
			ev, err := parseEvent(raw)
			if err != nil {
				r.errs.add("decode")
				break
			}
			got++
			r.receive(w, ev)
			if ev.index >= next {
				next = ev.index + 1
			}
			if r.cfg.watchMode == "longpoll" {
				break
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if ctx.Err() != nil {
			return
		}
		switch {
		case r.cfg.watchMode == "stream":
			w.restarts++
			sleepCtx(ctx, 10*time.Millisecond)
		case got == 0:
			w.empty++
			sleepCtx(ctx, 10*time.Millisecond)
		}
	}
}

// bodyErrKind names a failure to read events from a watch response.
func bodyErrKind(err error) string {
	switch {
	case errors.Is(err, errSyntax):
		return "decode"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	default:
		return transportKind(err)
	}
}

// currentIndex asks an endpoint for the store index (X-Etcd-Index), which
// every v2 response carries, 404s included.
func currentIndex(ctx context.Context, hc *http.Client, base, prefix string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, keysURL(base, prefix), nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	h := resp.Header.Get("X-Etcd-Index")
	idx, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GET %s: status %d, X-Etcd-Index %q: %w", prefix, resp.StatusCode, h, err)
	}
	return idx, nil
}

// writeInflight bounds the writer's concurrent requests: writes are paced by
// the clock, not by responses, so a slow server gets more of them at once,
// up to this many.
const writeInflight = 64

// runWatch runs the watch mode and returns the result and its summary.
func runWatch(ctx context.Context, cfg *config) (*result, func(io.Writer), error) {
	wtr := newTransport(cfg.watchers+1, cfg.tls)
	defer wtr.CloseIdleConnections()
	ptr := newTransport(writeInflight+1, cfg.tls)
	defer ptr.CloseIdleConnections()
	writeClient := &http.Client{Transport: ptr, Timeout: cfg.timeout}

	base, err := currentIndex(ctx, writeClient, cfg.endpoints[0], cfg.prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("read the current index: %w", err)
	}
	capacity := int(cfg.duration.Seconds()*float64(cfg.rate)) + 1
	run := &watchRun{
		cfg:    cfg,
		client: &http.Client{Transport: wtr},
		t0:     time.Now(),
		base:   base,
		sentAt: make([]atomic.Int64, capacity),
	}

	// Watchers.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchers := make([]*watcher, cfg.watchers)
	readyCh := make(chan struct{}, cfg.watchers)
	var wwg sync.WaitGroup
	for i := range watchers {
		w := &watcher{base: cfg.endpoints[i%len(cfg.endpoints)], chk: newWatchChecker(base)}
		watchers[i] = w
		wwg.Go(func() { run.watch(watchCtx, w, func() { readyCh <- struct{}{} }) })
	}
	ready := 0
	readyTimer := time.NewTimer(cfg.timeout)
waitReady:
	for ready < cfg.watchers {
		select {
		case <-readyCh:
			ready++
		case <-readyTimer.C:
			break waitReady // the waitIndex still covers the late ones
		case <-ctx.Done():
			break waitReady
		}
	}
	readyTimer.Stop()
	readyTook := time.Since(run.t0)

	// Writer: write seq is due at writeStart + seq/rate.
	valueSize := max(cfg.valueSize, seqDigits)
	filler := randomValue(valueSize-seqDigits, rand.New(rand.NewPCG(cfg.seed, 0x3a7c)))
	width := keyWidth(cfg)
	var ackMu sync.Mutex
	var acked []uint64 // guarded by ackMu
	var writeHist Histogram
	writeErrs := errCounts{} // guarded by ackMu
	sem := make(chan struct{}, writeInflight)
	var pwg sync.WaitGroup
	writeStart := time.Now()
	for seq := 0; seq < capacity && ctx.Err() == nil; seq++ {
		// The write phase lasts -duration of wall time even when the server
		// cannot take -rate: the shortfall shows in writes_per_sec, and the
		// run stays bounded by duration + timeout + drain.
		due := writeStart.Add(time.Duration(seq) * time.Second / time.Duration(cfg.rate))
		if due.Sub(writeStart) >= cfg.duration || time.Since(writeStart) >= cfg.duration {
			break
		}
		if d := time.Until(due); d > 0 {
			sleepCtx(ctx, d)
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		form := make([]byte, 0, len("value=")+valueSize)
		form = append(form, "value="...)
		form = fmt.Appendf(form, "%0*d", seqDigits, seq)
		form = append(form, filler...)
		url := keysURL(cfg.endpoints[seq%len(cfg.endpoints)], cfg.prefix+"/"+keyName(int64(seq%cfg.keys), width))
		pwg.Go(func() {
			defer func() { <-sem }()
			run.sentAt[seq].Store(int64(max(time.Since(run.t0), 1)))
			t0 := time.Now()
			status, body, err := doHTTP(ctx, writeClient, http.MethodPut, url, form, true)
			lat := time.Since(t0)
			var kind string
			var ev v2Event
			switch {
			case err != nil:
				kind = transportKind(err)
			case status/100 != 2:
				kind = statusKind(status, body)
			case json.Unmarshal(body, &ev) != nil || ev.Node.ModifiedIndex == 0:
				kind = "decode"
			}
			ackMu.Lock()
			defer ackMu.Unlock()
			if kind != "" {
				writeErrs.add(kind)
				return
			}
			acked = append(acked, ev.Node.ModifiedIndex)
			writeHist.Record(lat)
		})
	}
	pwg.Wait()
	writeElapsed := time.Since(writeStart)

	// Drain: wait until every watcher has seen the last acknowledged write.
	slices.Sort(acked)
	acked = slices.Compact(acked)
	var target uint64
	if len(acked) > 0 {
		target = acked[len(acked)-1]
	}
	drainStart := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	for time.Since(drainStart) < cfg.drain && ctx.Err() == nil {
		behind := 0
		for _, w := range watchers {
			if w.last.Load() < target {
				behind++
			}
		}
		if behind == 0 {
			break
		}
		<-tick.C
	}
	tick.Stop()
	drainTook := time.Since(drainStart)
	stopWatch()
	wwg.Wait()

	// Accounting.
	var sum checkResult
	var cleared, restarts, empty int64
	caughtUp := 0
	for _, w := range watchers {
		if w.last.Load() >= target {
			caughtUp++
		}
		sum.add(w.chk.result(acked))
		cleared += w.cleared
		restarts += w.restarts
		empty += w.empty
	}
	errs := run.errs.snapshot()
	errs.merge(writeErrs)
	if empty > 0 {
		errs["watch_empty"] += empty
	}
	fraction := 1.0
	if sum.expected > 0 {
		fraction = float64(sum.delivered) / float64(sum.expected)
	}
	dh := &run.delivery.h
	writes := int64(len(acked))
	wsecs := writeElapsed.Seconds()

	res := newResult()
	res.set("mode", "watch")
	res.set("case", caseName(cfg, "watch"))
	if cfg.label != "" {
		res.set("label", cfg.label)
	}
	res.set("watch_mode", cfg.watchMode)
	res.set("watchers", cfg.watchers)
	res.set("watchers_ready", ready)
	res.set("endpoints", len(cfg.endpoints))
	res.set("rate", cfg.rate)
	res.set("duration_s", round(wsecs, 3))
	res.set("writes", writes)
	res.set("write_errors", writeErrs.total())
	res.set("writes_per_sec", round(float64(writes)/wsecs, 1))
	res.set("expected_events", sum.expected)
	res.set("delivered_events", sum.delivered)
	res.set("delivered_fraction", round(fraction, 6))
	res.set("lost_events", sum.lost)
	res.set("duplicate_events", sum.duplicates)
	res.set("out_of_order_events", sum.outOfOrder)
	res.set("unexpected_events", sum.unexpected)
	res.set("watchers_caught_up", caughtUp)
	res.set("index_cleared_401", cleared)
	res.set("stream_restarts", restarts)
	res.set("drain_s", round(drainTook.Seconds(), 3))
	res.set("ops", sum.delivered)
	res.set("ops_per_sec", round(float64(sum.delivered)/wsecs, 1))
	res.setLatency("", dh)
	res.setLatency("write_", &writeHist)
	res.setErrors(errs)

	human := func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d/%d watchers ready in %.2f s, %d writes in %.2f s (%d failed)\n",
			res.get("case"), ready, cfg.watchers, readyTook.Seconds(), writes, wsecs, writeErrs.total())
		fmt.Fprintf(w, "delivered: %d of %d events (%.4f%%); lost %d, duplicate %d, out of order %d, unexpected %d\n",
			sum.delivered, sum.expected, 100*fraction, sum.lost, sum.duplicates, sum.outOfOrder, sum.unexpected)
		fmt.Fprintf(w, "watchers that saw the last write: %d/%d after a drain of %.2f s\n", caughtUp, cfg.watchers, drainTook.Seconds())
		fmt.Fprintf(w, "401 index cleared: %d, streams ended by the server: %d\n", cleared, restarts)
		writeLatencyLine(w, "delivery", dh)
		writeLatencyLine(w, "write", &writeHist)
		writeErrorsLine(w, errs)
	}
	return res, human, nil
}
