package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var value256 = strings.Repeat("v", 256)

// benchKey spreads keys over 100 directories, as a typical tree would.
func benchKey(i int) string { return fmt.Sprintf("/bench/d%02d/key%08d", i%100, i) }

func benchStore(b testing.TB, n int) *Store {
	s := New(Config{HistorySize: 1000})
	for i := 0; i < n; i++ {
		put(b, s, benchKey(i), value256)
	}
	return s
}

func BenchmarkSet(b *testing.B) {
	s := New(Config{HistorySize: 1000})
	reqs := make([]Request, b.N)
	for i := range reqs {
		reqs[i] = Request{Method: MethodPut, Path: benchKey(i), Val: value256}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range reqs {
		if _, err := s.Apply(&reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetExisting overwrites random keys of 100,000, as arbor-bench
// put does once the key space has filled.
func BenchmarkSetExisting(b *testing.B) {
	const n = 100_000
	s := benchStore(b, n)
	reqs := make([]Request, 4096)
	for i := range reqs {
		reqs[i] = Request{Method: MethodPut, Path: benchKey((i * 7919) % n), Val: value256}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Apply(&reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetRandom overwrites keys of 100,000 in a random order that
// visits every key, as arbor-bench put does once the key space has filled:
// unlike BenchmarkSetExisting, the keys looked up are not in the CPU cache.
func BenchmarkSetRandom(b *testing.B) {
	const n = 100_000
	s := benchStore(b, n)
	reqs := make([]Request, n)
	for i, k := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		reqs[i] = Request{Method: MethodPut, Path: benchKey(k), Val: value256}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Apply(&reqs[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetKey(b *testing.B) {
	s := benchStore(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Get(benchKey(i%100_000), false, false, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetDir lists one directory of 1000 keys.
func BenchmarkGetDir(b *testing.B) {
	s := benchStore(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev, err := s.Get("/bench/d42", false, true, testNow)
		if err != nil || len(ev.Node.Nodes) != 1000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkWatchFanout applies one write watched by 100 stream watchers
// and has each of them read it.
func BenchmarkWatchFanout(b *testing.B) {
	s := New(Config{HistorySize: 1000})
	ws := make([]*Watcher, 100)
	for i := range ws {
		w, err := s.Watch("/fan", true, true, 0)
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = w
	}
	ctx := context.Background()
	r := &Request{Method: MethodPut, Path: "/fan/k", Val: value256}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Apply(r); err != nil {
			b.Fatal(err)
		}
		for _, w := range ws {
			ev, err := w.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			ev.Encode()
		}
	}
}

const snapKeys = 100_000

// BenchmarkSnapshotWriteTo reports the time per key to serialise a snapshot.
func BenchmarkSnapshotWriteTo(b *testing.B) {
	s := benchStore(b, snapKeys)
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if _, err := s.Snapshot().WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*snapKeys), "ns/key")
	b.ReportMetric(float64(buf.Len())/snapKeys, "bytes/key")
}

// BenchmarkRestore reports the time per key to load a snapshot.
func BenchmarkRestore(b *testing.B) {
	src := benchStore(b, snapKeys)
	var buf bytes.Buffer
	if _, err := src.Snapshot().WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := New(Config{})
		if err := s.Restore(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*snapKeys), "ns/key")
}

// heapPerKey inserts n keys of 256-byte values and returns the live heap
// growth per key.
func heapPerKey(t testing.TB, n int) float64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := New(Config{HistorySize: 1000})
	r := Request{Method: MethodPut, Val: value256}
	for i := 0; i < n; i++ {
		r.Path = benchKey(i)
		if _, err := s.Apply(&r); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// BenchmarkHeapPerKey reports live heap bytes per key for 200k keys.
func BenchmarkHeapPerKey(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.ReportMetric(heapPerKey(b, 200_000), "heap-bytes/key")
	}
}

// TestHeapPerKey measures at the size given by ARBOR_HEAP_KEYS (e.g.
// 1000000); it is skipped otherwise, being too slow for every run.
func TestHeapPerKey(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ARBOR_HEAP_KEYS"))
	if n <= 0 {
		t.Skip("set ARBOR_HEAP_KEYS to run")
	}
	t.Logf("%d keys of 256 B: %.0f heap bytes/key after inserts", n, heapPerKey(t, n))
	s := benchStore(t, n)
	var buf bytes.Buffer
	start := time.Now()
	sn := s.Snapshot()
	taken := time.Since(start)
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	written := time.Since(start)
	start = time.Now()
	if _, err := s.Snapshot().WriteTo(io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Logf("WriteTo(io.Discard) %v", time.Since(start))
	s = nil
	runtime.GC()
	start = time.Now()
	r := New(Config{})
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	t.Logf("Snapshot() %v, WriteTo %v (%d bytes), Restore %v", taken, written, buf.Len(), time.Since(start))
	t.Logf("%.0f heap bytes/key after a restore", restoredHeapPerKey(t, n))
}

// restoredHeapPerKey is heapPerKey for a store loaded from a snapshot.
func restoredHeapPerKey(t testing.TB, n int) float64 {
	var buf bytes.Buffer
	if _, err := benchStore(t, n).Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := New(Config{HistorySize: 1000})
	if err := s.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	runtime.KeepAlive(buf.Bytes())
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

func BenchmarkRestoredHeapPerKey(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.ReportMetric(restoredHeapPerKey(b, 200_000), "heap-bytes/key")
	}
}

// BenchmarkEventAppendJSON encodes a set's answer (node and prevNode with
// 256-byte values), as every write's response does.
func BenchmarkEventAppendJSON(b *testing.B) {
	s := benchStore(b, 1)
	ev, err := s.Apply(&Request{Method: MethodPut, Path: benchKey(0), Val: value256})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
}

// BenchmarkDeleteLargeDir times a recursive delete of a directory of
// 100,000 keys (one in ten with a TTL) from a store of 110,000, the other
// 10,000 in a sibling directory. Each round deletes from an O(1)
// copy-on-write copy of the same filled tree, as a delete does while a
// snapshot or a large listing holds the tree.
func BenchmarkDeleteLargeDir(b *testing.B) {
	const n = 100_000
	s := New(Config{HistorySize: 1000})
	for i := 0; i < n; i++ {
		r := &Request{Method: MethodPut, Path: fmt.Sprintf("/big/d%02d/key%08d", i%100, i), Val: value256, Time: testNow.UnixNano()}
		if i%10 == 0 {
			r.Expiration = testNow.Add(time.Hour).UnixNano()
		}
		mustApply(b, s, r)
	}
	for i := 0; i < n/10; i++ {
		put(b, s, fmt.Sprintf("/bigger/key%08d", i), value256)
	}
	tree, ttl := s.tree, s.ttl
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.tree, s.ttl = tree.IsoCopy(), ttl.IsoCopy()
		mustApply(b, s, &Request{Method: MethodDelete, Path: "/big", Recursive: true, Time: testNow.UnixNano()})
		if s.tree.Len() != n/10+1 || s.ttl.Len() != 0 {
			b.Fatalf("after delete: %d nodes, %d TTLs", s.tree.Len(), s.ttl.Len())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
}
