package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/cockroachdb/datadriven"
)

// ddBase is time zero of the golden files: t=10 means ten seconds after it.
var ddBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// ddHarness holds one store and its named watchers for a golden file.
type ddHarness struct {
	s        *Store
	watchers map[string]*Watcher
}

func newDDHarness(cfg Config, queue int) *ddHarness {
	s := New(cfg)
	if queue > 0 {
		s.queueSize = queue
	}
	return &ddHarness{s: s, watchers: map[string]*Watcher{}}
}

// TestDataDriven runs testdata/*.txt. Commands:
//
//	new [history=N] [queue=N] [max-watchers=N]
//	put <key> [value=V] [dir] [prevExist=B] [prevValue=V] [prevIndex=N] [ttl=S] [refresh] [t=S]
//	post <key> [value=V] [dir] [ttl=S] [t=S]
//	delete <key> [dir] [recursive] [prevValue=V] [prevIndex=N] [t=S]
//	get <key> [recursive] [sorted] [t=S]
//	sync t=S          prints the expire events
//	extend t=S
//	watch name=W <key> [recursive] [stream] [since=N]
//	next name=W       prints every event ready without blocking
//	close name=W
//	stats | index | dump | restore
//
// Times are seconds after ddBase (decimals allowed); ttl=S sets the
// expiration S seconds after t.
func TestDataDriven(t *testing.T) {
	// Only the golden files: testdata/fuzz holds the fuzzers' corpora.
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			h := newDDHarness(Config{}, 0)
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return h.run(t, d)
			})
		})
	}
}

func ddSeconds(t *testing.T, s string) int64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return ddBase.Add(time.Duration(math.Round(f * float64(time.Second)))).UnixNano()
}

func ddKey(t *testing.T, d *datadriven.TestData) string {
	if a, ok := d.Arg("key"); ok {
		if len(a.Vals) == 0 {
			return ""
		}
		return a.Vals[0]
	}
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 && strings.HasPrefix(a.Key, "/") {
			return a.Key
		}
	}
	t.Fatalf("%s: no key", d.Pos)
	return ""
}

func ddString(d *datadriven.TestData, key string) string {
	if a, ok := d.Arg(key); ok && len(a.Vals) > 0 {
		return a.Vals[0]
	}
	return ""
}

func ddUint(t *testing.T, d *datadriven.TestData, key string) uint64 {
	var v uint64
	if d.HasArg(key) {
		d.ScanArgs(t, key, &v)
	}
	return v
}

func ddErr(err error) string {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		b, _ := json.Marshal(ae)
		return fmt.Sprintf("error %d: %s\n", ae.StatusCode(), b)
	}
	return fmt.Sprintf("error: %v\n", err)
}

func ddEvent(ev *Event) string {
	return fmt.Sprintf("index=%d %s", ev.EtcdIndex, ev.Encode())
}

func (h *ddHarness) request(t *testing.T, d *datadriven.TestData, m Method) *Request {
	r := &Request{Method: m, Path: ddKey(t, d), Val: ddString(d, "value"), PrevValue: ddString(d, "prevValue"),
		PrevIndex: ddUint(t, d, "prevIndex"), Dir: d.HasArg("dir"), Refresh: d.HasArg("refresh"),
		Recursive: d.HasArg("recursive"), Time: ddBase.UnixNano()}
	if d.HasArg("t") {
		r.Time = ddSeconds(t, ddString(d, "t"))
	}
	if d.HasArg("prevExist") {
		v := ddString(d, "prevExist") == "true"
		r.PrevExist = &v
	}
	if d.HasArg("ttl") {
		f, err := strconv.ParseFloat(ddString(d, "ttl"), 64)
		if err != nil {
			t.Fatal(err)
		}
		r.Expiration = r.Time + int64(math.Round(f*float64(time.Second)))
	}
	return r
}

func (h *ddHarness) apply(r *Request) string {
	// Every request also goes through the log encoding, as in the server.
	var dec Request
	if err := dec.Unmarshal(r.Marshal()); err != nil {
		return ddErr(err)
	}
	ev, err := h.s.Apply(&dec)
	if err != nil {
		return ddErr(err)
	}
	if ev == nil {
		return "ok\n"
	}
	return ddEvent(ev)
}

func (h *ddHarness) run(t *testing.T, d *datadriven.TestData) string {
	s := h.s
	switch d.Cmd {
	case "new":
		cfg := Config{HistorySize: int(ddUint(t, d, "history")), MaxWatchers: int(ddUint(t, d, "max-watchers"))}
		*h = *newDDHarness(cfg, int(ddUint(t, d, "queue")))
		return "ok\n"
	case "put":
		return h.apply(h.request(t, d, MethodPut))
	case "post":
		return h.apply(h.request(t, d, MethodPost))
	case "delete":
		return h.apply(h.request(t, d, MethodDelete))
	case "sync", "extend":
		m := MethodSync
		if d.Cmd == "extend" {
			m = MethodExtend
		}
		before := s.Index()
		out := h.apply(&Request{Method: m, Time: ddSeconds(t, ddString(d, "t"))})
		var b strings.Builder
		s.mu.RLock()
		for i := before + 1; i <= s.idx; i++ {
			b.WriteString(ddEvent(s.hist.get(i)))
		}
		s.mu.RUnlock()
		if b.Len() == 0 {
			return out
		}
		return b.String()
	case "get":
		now := ddBase
		if d.HasArg("t") {
			now = time.Unix(0, ddSeconds(t, ddString(d, "t")))
		}
		ev, err := s.Get(ddKey(t, d), d.HasArg("recursive"), d.HasArg("sorted"), now)
		if err != nil {
			return ddErr(err)
		}
		return ddEvent(ev)
	case "watch":
		w, err := s.Watch(ddKey(t, d), d.HasArg("recursive"), d.HasArg("stream"), ddUint(t, d, "since"))
		if err != nil {
			return ddErr(err)
		}
		h.watchers[ddString(d, "name")] = w
		return fmt.Sprintf("ok start=%d\n", w.StartIndex())
	case "next":
		w := h.watchers[ddString(d, "name")]
		if w == nil {
			t.Fatalf("%s: no watcher %q", d.Pos, ddString(d, "name"))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var b strings.Builder
		for {
			ev, err := w.Next(ctx)
			switch {
			case err == nil:
				b.Write(ev.Encode())
				continue
			case errors.Is(err, context.Canceled):
				b.WriteString("(waiting)\n")
			case err == io.EOF:
				b.WriteString("EOF\n")
			default:
				b.WriteString(ddErr(err))
			}
			return b.String()
		}
	case "close":
		w := h.watchers[ddString(d, "name")]
		w.Close()
		delete(h.watchers, ddString(d, "name"))
		return "ok\n"
	case "stats":
		b, _ := json.Marshal(s.Stats())
		return string(b) + "\n"
	case "index":
		return fmt.Sprintf("%d\n", s.Index())
	case "dump":
		return h.dump()
	case "restore":
		sn := s.Snapshot()
		var buf strings.Builder
		if _, err := sn.WriteTo(&buf); err != nil {
			return ddErr(err)
		}
		if err := s.Restore(strings.NewReader(buf.String())); err != nil {
			return ddErr(err)
		}
		return fmt.Sprintf("ok index=%d len=%d\n", s.Index(), s.Len())
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

// dump prints the raw tree and TTL index, one entry per line.
func (h *ddHarness) dump() string {
	s := h.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	s.tree.Scan(func(e entry) bool {
		kind := "file"
		if e.dir() {
			kind = "dir "
		}
		fmt.Fprintf(&b, "%s %s created=%d modified=%d", kind, e.key(), e.created, e.modified)
		if !e.dir() {
			fmt.Fprintf(&b, " value=%q", e.val())
		}
		if e.exp != 0 {
			fmt.Fprintf(&b, " exp=%s", time.Duration(e.exp-ddBase.UnixNano()))
		}
		b.WriteString("\n")
		return true
	})
	s.ttl.Scan(func(it ttlItem) bool {
		fmt.Fprintf(&b, "ttl %s %s\n", time.Duration(it.exp-ddBase.UnixNano()), it.key)
		return true
	})
	if b.Len() == 0 {
		return "(empty)\n"
	}
	return b.String()
}
