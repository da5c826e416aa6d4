package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
)

var testNow = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func mustApply(t testing.TB, s *Store, r *Request) *Event {
	t.Helper()
	ev, err := s.Apply(r)
	if err != nil {
		t.Fatalf("apply %+v: %v", r, err)
	}
	return ev
}

func put(t testing.TB, s *Store, key, val string) *Event {
	t.Helper()
	return mustApply(t, s, &Request{Method: MethodPut, Path: key, Val: val, Time: testNow.UnixNano()})
}

// entries returns every stored entry, for exact state comparisons.
func entries(s *Store) []entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.Items()
}

func ttlItems(s *Store) []ttlItem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ttl.Items()
}

// drain reads every event w has ready without blocking.
func drain(t testing.TB, w *Watcher) []*Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []*Event
	for {
		ev, err := w.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Next: %v", err)
			}
			return out
		}
		out = append(out, ev)
	}
}

func TestApplyErrorsAreAPIErrors(t *testing.T) {
	s := New(Config{})
	put(t, s, "/a", "1")
	_, err := s.Apply(&Request{Method: MethodPut, Path: "/a", Val: "2", PrevValue: "x"})
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != apierr.TestFailed || ae.Index != 1 {
		t.Fatalf("got %v", err)
	}
	if _, err := s.Apply(&Request{Method: 99, Path: "/a"}); !apierr.Is(err, apierr.RaftInternal) {
		t.Fatalf("unknown method: %v", err)
	}
	if _, err := s.Apply(nil); !apierr.Is(err, apierr.RaftInternal) {
		t.Fatalf("nil request: %v", err)
	}
	if s.Index() != 1 {
		t.Fatalf("failed writes moved the index to %d", s.Index())
	}
}

func TestNextExpirationAndLen(t *testing.T) {
	s := New(Config{})
	if _, ok := s.NextExpiration(); ok {
		t.Fatal("empty store has an expiration")
	}
	exp := testNow.Add(time.Minute)
	mustApply(t, s, &Request{Method: MethodPut, Path: "/a/b", Val: "1", Expiration: exp.UnixNano()})
	mustApply(t, s, &Request{Method: MethodPut, Path: "/c", Val: "1", Expiration: exp.Add(time.Second).UnixNano()})
	if got, ok := s.NextExpiration(); !ok || !got.Equal(exp) {
		t.Fatalf("NextExpiration = %v, %v", got, ok)
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (/a, /a/b, /c)", s.Len())
	}
}

func TestEncodeOnceConcurrently(t *testing.T) {
	s := New(Config{})
	ev := put(t, s, "/a", "<&>")
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = ev.Encode()
		}()
	}
	wg.Wait()
	for _, b := range got {
		if &b[0] != &got[0][0] {
			t.Fatal("Encode computed more than once")
		}
	}
	// Same bytes as encoding/json's Encoder, which etcd uses (HTML escaped).
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(ev); err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(got[0]) {
		t.Fatalf("Encode = %s, want %s", got[0], buf.String())
	}
}

// TestWatcherBehindCatchesUp: a stream watcher with a queue of 4 that does
// not read while 1000 events are applied still receives every one, in order.
func TestWatcherBehindCatchesUp(t *testing.T) {
	s := New(Config{})
	s.queueSize = 4
	w, err := s.Watch("/k", true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < 1000; i++ {
		put(t, s, fmt.Sprintf("/k/%d", i%7), fmt.Sprint(i))
		put(t, s, "/other", "x")
	}
	got := drain(t, w)
	if len(got) != 1000 {
		t.Fatalf("got %d events, want 1000", len(got))
	}
	for i, ev := range got {
		if want := fmt.Sprint(i); *ev.Node.Value != want || ev.Index() != uint64(2*i+1) {
			t.Fatalf("event %d: value %s index %d", i, *ev.Node.Value, ev.Index())
		}
	}
}

// TestWatcherConcurrentNoLoss runs the reader alongside the writer; with a
// tiny queue it falls behind and catches up many times.
func TestWatcherConcurrentNoLoss(t *testing.T) {
	s := New(Config{HistorySize: 5000})
	s.queueSize = 4
	w, err := s.Watch("/", true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 3000
	errc := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			ev, err := w.Next(context.Background())
			if err != nil {
				errc <- err
				return
			}
			if ev.Index() != uint64(i) {
				errc <- fmt.Errorf("event %d has index %d", i, ev.Index())
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < n; i++ {
		put(t, s, fmt.Sprintf("/k%d", i%50), "v")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestNextUnblocksOnCancelAndClose(t *testing.T) {
	s := New(Config{})
	w, err := s.Watch("/a", false, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := w.Next(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	go func() {
		_, err := w.Next(context.Background())
		done <- err
	}()
	w.Close()
	if err := <-done; err != io.EOF {
		t.Fatalf("Next after Close: %v", err)
	}
	w.Close() // twice is fine
	if n := s.Stats().Watchers; n != 0 {
		t.Fatalf("watchers = %d", n)
	}
}

// TestWatcherLeak opens thousands of watchers of every kind, fires events,
// closes them all and checks the hub is empty again.
func TestWatcherLeak(t *testing.T) {
	s := New(Config{})
	s.queueSize = 2
	for i := 0; i < 20; i++ {
		put(t, s, fmt.Sprintf("/d%d/k", i%5), "v")
	}
	var ws []*Watcher
	for i := 0; i < 5000; i++ {
		since := uint64(0)
		if i%3 == 0 {
			since = uint64(1 + i%20)
		}
		w, err := s.Watch(fmt.Sprintf("/d%d/k%d", i%5, i%11), i%2 == 0, i%4 < 2, since)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if n := s.Stats().Watchers; n != 5000 {
		t.Fatalf("watchers = %d", n)
	}
	for i := 0; i < 30; i++ {
		put(t, s, fmt.Sprintf("/d%d/k%d", i%5, i%11), "v")
	}
	mustApply(t, s, &Request{Method: MethodDelete, Path: "/d1", Recursive: true})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(ws); j += 4 {
				if j%2 == 0 {
					drain(t, ws[j])
				}
				ws[j].Close()
			}
		}()
	}
	wg.Wait()
	if n := s.Stats().Watchers; n != 0 {
		t.Fatalf("watchers = %d after closing all", n)
	}
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if len(s.hub.groups) != 0 || s.hub.paths.Len() != 0 || s.hub.open != 0 {
		t.Fatalf("hub not empty: %d groups, %d paths, %d open", len(s.hub.groups), s.hub.paths.Len(), s.hub.open)
	}
}

// fill builds a store with files, dirs, hidden keys, TTLs, a refresh, a
// value larger than the snapshot buffer and binary bytes.
func fill(t testing.TB, s *Store, n int, big bool) {
	t.Helper()
	for i := 0; i < n; i++ {
		r := &Request{Method: MethodPut, Path: fmt.Sprintf("/dir%d/sub%d/key%d", i%7, i%3, i), Val: strings.Repeat("v", i%300),
			Time: testNow.UnixNano()}
		if i%5 == 0 {
			r.Expiration = testNow.Add(time.Duration(i%13+1) * time.Second).UnixNano()
		}
		mustApply(t, s, r)
	}
	mustApply(t, s, &Request{Method: MethodPut, Path: "/_hidden/x", Val: "h"})
	mustApply(t, s, &Request{Method: MethodPut, Path: "/emptydir", Dir: true, Expiration: testNow.Add(time.Hour).UnixNano()})
	if big {
		mustApply(t, s, &Request{Method: MethodPut, Path: "/big", Val: strings.Repeat("B", 3*snapBufLen+17)})
	}
	mustApply(t, s, &Request{Method: MethodPut, Path: "/bin\x00ary", Val: "\x00\xff\x01"})
	mustApply(t, s, &Request{Method: MethodPut, Path: "/dir0/sub0/key0", Refresh: true, Expiration: testNow.Add(time.Minute).UnixNano()})
	mustApply(t, s, &Request{Method: MethodDelete, Path: "/dir6", Recursive: true})
	mustApply(t, s, &Request{Method: MethodSync, Time: testNow.Add(2 * time.Second).UnixNano()})
	_, _ = s.Get("/nope", false, false, testNow)
}

func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.Snapshot().WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func sameState(t *testing.T, a, b *Store) {
	t.Helper()
	if a.Index() != b.Index() {
		t.Fatalf("index %d vs %d", a.Index(), b.Index())
	}
	if !reflect.DeepEqual(entries(a), entries(b)) {
		t.Fatal("entries differ")
	}
	if !reflect.DeepEqual(ttlItems(a), ttlItems(b)) {
		t.Fatal("ttl index differs")
	}
	sa, sb := a.Stats(), b.Stats()
	sa.Watchers, sb.Watchers = 0, 0
	if sa != sb {
		t.Fatalf("stats %+v vs %+v", sa, sb)
	}
	if a.lastSync != b.lastSync || a.synced != b.synced {
		t.Fatal("last sync differs")
	}
	ga, err := a.Get("/", true, true, testNow)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := b.Get("/", true, true, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ga.Encode(), gb.Encode()) {
		t.Fatal("recursive Get differs")
	}
}

func TestRestoreRoundTrip(t *testing.T) {
	a := New(Config{})
	fill(t, a, 3*treeLoadBatch+17, true) // several of the loader's batches
	b := New(Config{})
	put(t, b, "/old", "gone")
	if err := b.Restore(bytes.NewReader(snapshotBytes(t, a))); err != nil {
		t.Fatal(err)
	}
	sameState(t, a, b) // also shows /old is gone
	// Both expire the same keys at the same indexes afterwards.
	sync := &Request{Method: MethodSync, Time: testNow.Add(time.Hour).UnixNano()}
	mustApply(t, a, sync)
	mustApply(t, b, sync)
	sameState(t, a, b)
	// A restored empty store round-trips too.
	e := New(Config{})
	if err := e.Restore(bytes.NewReader(snapshotBytes(t, New(Config{})))); err != nil || e.Len() != 0 || e.Index() != 0 {
		t.Fatalf("empty round trip: %v len %d", err, e.Len())
	}
}

// TestSnapshotWhileWriting takes a snapshot, keeps applying writes while
// another goroutine writes the snapshot out, and checks the output is
// exactly the state at the snapshot point.
func TestSnapshotWhileWriting(t *testing.T) {
	s := New(Config{})
	fill(t, s, 3000, true)
	want := New(Config{})
	if err := want.Restore(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshot()
	if sn.Index() != s.Index() {
		t.Fatalf("snapshot index %d, store %d", sn.Index(), s.Index())
	}
	var buf bytes.Buffer
	done := make(chan error)
	go func() {
		_, err := sn.WriteTo(&buf)
		done <- err
	}()
	for i := 0; i < 3000; i++ {
		switch i % 4 {
		case 0:
			put(t, s, fmt.Sprintf("/dir%d/sub%d/key%d", i%7, i%3, i), "changed")
		case 1:
			put(t, s, fmt.Sprintf("/new/%d", i), "new")
		case 2:
			_, _ = s.Apply(&Request{Method: MethodDelete, Path: fmt.Sprintf("/dir%d", i%6), Recursive: true})
		case 3:
			mustApply(t, s, &Request{Method: MethodExtend, Time: testNow.Add(time.Duration(i) * time.Second).UnixNano()})
		}
		if i%300 == 0 {
			_, _ = s.Get("/", true, false, testNow)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := New(Config{})
	if err := got.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	sameState(t, want, got)
}

func TestRestoreRejectsBadInput(t *testing.T) {
	src := New(Config{})
	fill(t, src, 50, false)
	good := snapshotBytes(t, src)

	s := New(Config{})
	put(t, s, "/keep", "1")
	w, err := s.Watch("/keep", false, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before := entries(s)
	check := func(name string, b []byte) {
		t.Helper()
		err := s.Restore(bytes.NewReader(b))
		if err == nil {
			t.Fatalf("%s: restore accepted bad input", name)
		}
		if !strings.HasPrefix(err.Error(), "store: ") {
			t.Fatalf("%s: error %q lacks the package prefix", name, err)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: error %v is not ErrCorrupt", name, err)
		}
	}
	for i := 0; i < len(good); i += 1 + i/50 {
		check(fmt.Sprintf("truncated at %d", i), good[:i])
	}
	for i := 0; i < len(good); i += 1 + i/30 {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		check(fmt.Sprintf("flipped byte %d", i), b)
	}
	check("garbage", bytes.Repeat([]byte("garbage!"), 1000))
	// Cut after the tree loader has taken several batches.
	big := New(Config{})
	fill(t, big, 3*treeLoadBatch, false)
	bigSnap := snapshotBytes(t, big)
	check("large, truncated", bigSnap[:len(bigSnap)*3/4])
	if !reflect.DeepEqual(entries(s), before) || s.Index() != 1 {
		t.Fatal("a failed restore changed the store")
	}
	// The watcher was not disturbed either.
	put(t, s, "/keep", "2")
	if got := drain(t, w); len(got) != 1 {
		t.Fatalf("watcher got %d events after failed restores", len(got))
	}
	// A reader error is reported, wrapped.
	errRead := errors.New("disk on fire")
	if err := s.Restore(io.MultiReader(bytes.NewReader(good[:100]), errReader{errRead})); !errors.Is(err, errRead) {
		t.Fatalf("reader error: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestWriteToReportsErrors(t *testing.T) {
	s := New(Config{})
	fill(t, s, 100, true)
	errWrite := errors.New("full")
	if _, err := s.Snapshot().WriteTo(failWriter{errWrite}); !errors.Is(err, errWrite) {
		t.Fatalf("WriteTo: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func boolPtr(b bool) *bool { return &b }

var requestTable = []Request{
	{},
	{ID: 1, Method: MethodPut, Path: "/a", Val: "1", Time: 5},
	{ID: 1<<64 - 1, Method: MethodPost, Path: "/q", Val: strings.Repeat("x", 300), Dir: true, Expiration: -1, Time: -1 << 63},
	{ID: 7, Method: MethodPut, Path: "/a/b", PrevExist: boolPtr(true), PrevValue: "p", PrevIndex: 99, Refresh: true, Expiration: 1 << 62},
	{ID: 8, Method: MethodPut, Path: "/a/b", PrevExist: boolPtr(false)},
	{ID: 9, Method: MethodDelete, Path: "/d", Dir: true, Recursive: true},
	{Method: MethodSync, Time: 1700000000000000000},
	{Method: MethodExtend, Time: 1700000000000000001},
	{Method: MethodPut, Path: "/\x00\xff", Val: "\xff"},
}

func TestRequestRoundTrip(t *testing.T) {
	for i, r := range requestTable {
		if r.Method == 0 {
			continue
		}
		var got Request
		if err := got.Unmarshal(r.Marshal()); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("%d: got %+v, want %+v", i, got, r)
		}
	}
}

func TestRequestUnmarshalRejects(t *testing.T) {
	good := (&Request{ID: 3, Method: MethodPut, Path: "/a", Val: "b", PrevExist: boolPtr(true)}).Marshal()
	bad := map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{2}, good[1:]...),
		"trailing":       append(bytes.Clone(good), 0),
		"method 0":       {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"method 6":       {1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0},
		"flags":          {1, 0, 1, 0x80, 0, 0, 0, 0, 0, 0},
		"prevExist bit":  {1, 0, 1, reqPrevExist, 0, 0, 0, 0, 0, 0},
		"long string":    {1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
		"varint overrun": {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for i := range good {
		bad[fmt.Sprintf("truncated %d", i)] = good[:i]
	}
	for name, b := range bad {
		r := Request{ID: 42}
		err := r.Unmarshal(b)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "store: ") {
			t.Fatalf("%s: err = %v", name, err)
		}
		if r.ID != 42 {
			t.Fatalf("%s: failed Unmarshal changed the request", name)
		}
	}
}

func FuzzRequestUnmarshal(f *testing.F) {
	for _, r := range requestTable {
		f.Add(r.Marshal())
	}
	f.Add([]byte{1, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		if err := r.Unmarshal(b); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		var again Request
		if err := again.Unmarshal(r.Marshal()); err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip: %+v vs %+v", r, again)
		}
	})
}

func FuzzRestore(f *testing.F) {
	small := New(Config{})
	for i, k := range []string{"/a/b", "/c/_d", "/e", "/f"} {
		r := &Request{Method: MethodPut, Path: k, Val: fmt.Sprint(i)}
		if i == 1 {
			r.Expiration = 12345
		}
		mustApply(f, small, r)
	}
	mustApply(f, small, &Request{Method: MethodSync, Time: 10})
	good := snapshotBytes(f, small)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(snapshotBytes(f, New(Config{})))
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRestore(t, b)
		// Again with the checksum made right, so the fuzzer reaches the
		// decoder's structural checks instead of stopping at the CRC.
		if len(b) >= 4 {
			b = bytes.Clone(b)
			binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
			fuzzRestore(t, b)
		}
	})
}

func fuzzRestore(t *testing.T, b []byte) {
	{
		s := New(Config{})
		if err := s.Restore(bytes.NewReader(b)); err != nil {
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		// Whatever was accepted must serve reads and round-trip.
		if _, err := s.Get("/", true, true, testNow); err != nil {
			t.Fatal(err)
		}
		again := New(Config{})
		if err := again.Restore(bytes.NewReader(snapshotBytes(t, s))); err != nil {
			t.Fatalf("re-restoring: %v", err)
		}
		sameState(t, s, again)
		// And it must survive writes.
		for _, r := range []*Request{
			{Method: MethodPut, Path: "/a/b", Val: "x"},
			{Method: MethodDelete, Path: "/a", Recursive: true},
			{Method: MethodPost, Path: "/", Val: "x"},
			{Method: MethodExtend, Time: 1 << 40},
			{Method: MethodSync, Time: 1 << 62},
		} {
			_, _ = s.Apply(r)
		}
	}
}

// Value is the member's own read: it finds values, not directories, and
// leaves the client statistics alone.
func TestValueCountsNoStatistics(t *testing.T) {
	s := New(Config{})
	if _, err := s.Apply(&Request{Method: MethodPut, Path: "/a/b", Val: "v"}); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	if v, idx, ok := s.Value("/a/b"); !ok || v != "v" || idx != 1 {
		t.Fatalf("Value(/a/b) = %q %d %v", v, idx, ok)
	}
	if _, _, ok := s.Value("/a"); ok {
		t.Fatal("a directory has a value")
	}
	if _, _, ok := s.Value("/nope"); ok {
		t.Fatal("a missing key has a value")
	}
	if after := s.Stats(); after != before {
		t.Fatalf("stats changed: %+v -> %+v", before, after)
	}
}

// The history holds at most HistoryBytes of keys and values: overwriting
// one key with large values keeps only as many as fit, older indexes
// answer 401 like those past HistorySize, and the newest event stays even
// when it alone is over the bound.
func TestHistoryBytes(t *testing.T) {
	big := strings.Repeat("v", 100<<10)
	s := New(Config{HistorySize: 1000, HistoryBytes: 1 << 20})
	for i := 0; i < 50; i++ {
		put(t, s, "/blob", big)
	}
	// Each overwrite holds the new and the old value: ~200 KiB an event.
	first := s.hist.first
	if s.hist.bytes > 1<<20 || first < 45 || s.hist.last() != 50 {
		t.Fatalf("history holds %d..%d, %d bytes", first, s.hist.last(), s.hist.bytes)
	}
	var sum int64
	for i := first; i <= s.hist.last(); i++ {
		sum += eventBytes(s.hist.get(i))
	}
	if sum != s.hist.bytes {
		t.Fatalf("bytes %d, events add up to %d", s.hist.bytes, sum)
	}
	var cleared *apierr.Error
	if _, err := s.Watch("/blob", false, false, first-1); !errors.As(err, &cleared) || cleared.Code != apierr.EventIndexClear {
		t.Fatalf("watch from %d (dropped): %v", first-1, err)
	}
	w, err := s.Watch("/blob", false, false, first)
	if err != nil {
		t.Fatalf("watch from %d (held): %v", first, err)
	}
	if ev, err := w.Next(context.Background()); err != nil || ev.Index() != first {
		t.Fatalf("watch from %d: %v %v", first, ev, err)
	}
	w.Close()

	// Small events are bounded by HistorySize, as before.
	for i := 0; i < 2000; i++ {
		put(t, s, "/small", "x")
	}
	if n := s.hist.last() - s.hist.first + 1; n != 1000 {
		t.Fatalf("history holds %d small events, want 1000", n)
	}

	// One event over the bound is still kept.
	huge := strings.Repeat("h", 2<<20)
	ev := put(t, s, "/huge", huge)
	if s.hist.first != ev.Index() || s.hist.last() != ev.Index() {
		t.Fatalf("history holds %d..%d after an event over the bound", s.hist.first, s.hist.last())
	}
}
