package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// listingStore holds a tree with what a listing must get right: nested
// directories, hidden names at two depths, siblings that sort between a
// directory and its subtree ("d!x", "d.x"), an empty directory, TTLs.
func listingStore(t *testing.T) *Store {
	t.Helper()
	s := New(Config{})
	for _, k := range []string{"/top/a", "/top/d/x", "/top/d/y/z", "/top/d!x", "/top/d.x", "/top/_h", "/top/d/_h/q", "/other"} {
		put(t, s, k, "v"+k)
	}
	mustApply(t, s, &Request{Method: MethodPut, Path: "/top/empty", Dir: true, Time: testNow.UnixNano()})
	mustApply(t, s, &Request{Method: MethodPut, Path: "/top/ttl", Val: "t", Expiration: testNow.Add(time.Minute).UnixNano(), Time: testNow.UnixNano()})
	mustApply(t, s, &Request{Method: MethodPut, Path: "/top/d/tdir", Dir: true, Expiration: testNow.Add(time.Hour).UnixNano(), Time: testNow.UnixNano()})
	return s
}

// TestReadLargeListingMatchesGet checks that a listing over the budget,
// encoded from a copy of the tree, writes the same bytes as the same
// listing built as nodes (whose encoding FuzzAppendEvent holds to
// encoding/json's).
func TestReadLargeListingMatchesGet(t *testing.T) {
	s := listingStore(t)
	now := testNow.Add(10 * time.Second)
	for _, tc := range []struct {
		path      string
		recursive bool
	}{
		{"/", false}, {"/", true}, {"/top", false}, {"/top", true}, {"/top/d", true},
		{"/top/empty", true}, {"/top/a", true}, {"/top/_h", false},
	} {
		want, err := s.Get(tc.path, tc.recursive, true, now)
		if err != nil {
			t.Fatalf("Get(%s): %v", tc.path, err)
		}
		for _, budget := range []int{1, 2, 1000} {
			s.listBudget = budget
			got, err := s.Read(tc.path, tc.recursive, true, now)
			if err != nil {
				t.Fatalf("Read(%s) budget %d: %v", tc.path, budget, err)
			}
			g, w := got.AppendJSON(nil), want.AppendJSON(nil)
			if !bytes.Equal(g, w) {
				t.Errorf("Read(%s, recursive=%v) with budget %d:\n got %s\nwant %s", tc.path, tc.recursive, budget, g, w)
			}
			if got.EtcdIndex != want.EtcdIndex {
				t.Errorf("Read(%s): EtcdIndex %d, want %d", tc.path, got.EtcdIndex, want.EtcdIndex)
			}
		}
	}
	// A budget that fits builds the nodes as Get does; one that does not
	// leaves them to the encoder.
	s.listBudget = 1000
	if ev, _ := s.Read("/top", true, true, now); ev.list != nil || len(ev.Node.Nodes) == 0 {
		t.Errorf("a listing within the budget was not built as nodes")
	}
	s.listBudget = 2
	if ev, _ := s.Read("/top", true, true, now); ev.list == nil || ev.Node.Nodes != nil {
		t.Errorf("a listing over the budget was built as nodes")
	}
}

// TestReadLargeListingHoldsNoLock checks that a large listing is encoded
// without the store's lock, while writes go on (run with -race), and still
// shows the store as it was when read.
func TestReadLargeListingHoldsNoLock(t *testing.T) {
	s := New(Config{})
	for i := range 50 {
		put(t, s, fmt.Sprintf("/big/k%03d", i), "old")
	}
	s.listBudget = 10
	ev, err := s.Read("/big", true, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if ev.list == nil {
		t.Fatal("a listing over the budget was built under the lock")
	}
	// Encoding needs no lock: it finishes while a writer holds it.
	s.mu.Lock()
	encoded := make(chan string)
	go func() { encoded <- string(ev.AppendJSON(nil)) }()
	var before string
	select {
	case before = <-encoded:
	case <-time.After(10 * time.Second):
		t.Fatal("encoding the listing waited for the store's lock")
	}
	s.mu.Unlock()
	if strings.Contains(before, `"new"`) || !strings.Contains(before, `"/big/k049","value":"old"`) {
		t.Errorf("listing does not show the state it was read at: %.200s", before)
	}

	// Writes change and then delete every key while the listing is encoded
	// again and again: it keeps showing the state it was read at.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			put(t, s, fmt.Sprintf("/big/k%03d", i), "new")
		}
		mustApply(t, s, &Request{Method: MethodDelete, Path: "/big", Recursive: true, Time: testNow.UnixNano()})
	}()
	for range 20 {
		if after := string(ev.AppendJSON(nil)); after != before {
			t.Fatalf("the listing changed with later writes:\nbefore %s\nafter  %s", before, after)
		}
	}
	<-done
	if after := string(ev.AppendJSON(nil)); after != before {
		t.Errorf("the listing changed with later writes:\nbefore %s\nafter  %s", before, after)
	}
	// The directory is gone now: a new read says so.
	_, err = s.Read("/big", true, false, testNow)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != apierr.KeyNotFound {
		t.Errorf("Read after delete: %v, want 100", err)
	}
}

// pieceWriter records each Write; it fails from the failAt-th on (0: never).
type pieceWriter struct {
	pieces [][]byte
	failAt int
}

func (w *pieceWriter) Write(p []byte) (int, error) {
	if w.failAt > 0 && len(w.pieces)+1 >= w.failAt {
		return 0, errors.New("client gone")
	}
	w.pieces = append(w.pieces, append([]byte(nil), p...))
	return len(p), nil
}

// TestWriteJSONStreamsLargeListing checks that a large listing goes out in
// bounded pieces that add up to AppendJSON's bytes, and that encoding stops
// at the first failed write.
func TestWriteJSONStreamsLargeListing(t *testing.T) {
	s := New(Config{})
	val := strings.Repeat("v", 1000)
	for i := range 300 {
		put(t, s, fmt.Sprintf("/big/d%d/k%03d", i%3, i), val)
	}
	s.listBudget = 10
	ev, err := s.Read("/big", true, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Streamed() {
		t.Fatal("a listing over the budget is not streamed")
	}
	var w pieceWriter
	if err := ev.WriteJSON(&w); err != nil {
		t.Fatal(err)
	}
	if len(w.pieces) < 3 {
		t.Errorf("%d pieces for a %d KiB listing, want several", len(w.pieces), len(ev.AppendJSON(nil))>>10)
	}
	for i, p := range w.pieces {
		if len(p) > spillSize+4096 {
			t.Errorf("piece %d is %d bytes, over the %d spill size by more than a node", i, len(p), spillSize)
		}
	}
	if got, want := bytes.Join(w.pieces, nil), ev.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("WriteJSON's pieces differ from AppendJSON:\n got %.300s\nwant %.300s", got, want)
	}

	failing := pieceWriter{failAt: 2}
	if err := ev.WriteJSON(&failing); err == nil {
		t.Error("WriteJSON hid the writer's error")
	}
	if len(failing.pieces) != 1 {
		t.Errorf("WriteJSON wrote %d pieces after the failure, want it to stop", len(failing.pieces)-1)
	}

	// A small answer is one write of AppendJSON's bytes.
	small, _ := s.Read("/big/d0/k000", false, false, testNow)
	var one pieceWriter
	if err := small.WriteJSON(&one); err != nil || len(one.pieces) != 1 || !bytes.Equal(one.pieces[0], small.AppendJSON(nil)) {
		t.Errorf("small answer: err %v, %d pieces", err, len(one.pieces))
	}
}
