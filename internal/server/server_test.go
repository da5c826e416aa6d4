package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/raftnode"
	"github.com/arbor-kv/arbor/internal/store"
)

// fakeClock is a settable clock shared by the test and the member.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startMember(t *testing.T, dir string, clock *fakeClock, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Name:          "test",
		DataDir:       dir,
		TickInterval:  10 * time.Millisecond,
		ElectionTicks: 10,
		SyncInterval:  10 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if clock != nil {
		cfg.Clock = clock.Now
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	waitFor(t, "a leader", func() bool { return s.Health(context.Background()) == nil })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func put(t *testing.T, s *Server, key, val string, exp time.Time) *store.Event {
	t.Helper()
	r := &store.Request{Method: store.MethodPut, Path: key, Val: val, Time: time.Now().UnixNano()}
	if !exp.IsZero() {
		r.Expiration = exp.UnixNano()
	}
	ev, err := s.Write(context.Background(), r)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return ev
}

func dump(t *testing.T, s *Server) string {
	t.Helper()
	ev, err := s.Get(context.Background(), "/", true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	// Drop ttl fields: they depend on when the read happens.
	var walk func(n *store.NodeExtern)
	walk = func(n *store.NodeExtern) {
		n.TTL = 0
		for _, c := range n.Nodes {
			walk(c)
		}
	}
	walk(ev.Node)
	b, _ := json.Marshal(ev.Node)
	return fmt.Sprintf("%d %s", s.store.Index(), b)
}

func TestWriteThenReadLocalAndQuorum(t *testing.T) {
	s := startMember(t, t.TempDir(), nil, nil)
	base := s.store.Index() // the member's own /_etcd/machines key
	ev := put(t, s, "/a/b", "1", time.Time{})
	if ev.Action != store.ActionSet || ev.Node.ModifiedIndex != base+1 {
		t.Fatalf("unexpected event %+v", ev)
	}
	for _, quorum := range []bool{false, true} {
		got, err := s.Get(context.Background(), "/a/b", false, false, quorum)
		if err != nil || *got.Node.Value != "1" {
			t.Fatalf("quorum=%v: %v %v", quorum, got, err)
		}
	}
	_, err := s.Write(context.Background(), &store.Request{Method: store.MethodPut, Path: "/a/b", Val: "2",
		PrevValue: "nope", Time: time.Now().UnixNano()})
	if !apierr.Is(err, apierr.TestFailed) {
		t.Fatalf("CAS mismatch: got %v, want 101", err)
	}
	if st := s.Status(); st.StoreIndex != base+1 || st.RaftIndex == 0 || st.RaftTerm == 0 || st.ClusterID == 0 {
		t.Fatalf("status %+v", st)
	}
}

// Many concurrent writers all get distinct, gap-free indexes: batching never
// loses or duplicates a request.
func TestConcurrentWritesAllApplyOnce(t *testing.T) {
	s := startMember(t, t.TempDir(), nil, nil)
	base := s.store.Index()
	const n = 400
	var wg sync.WaitGroup
	idx := make([]uint64, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			idx[i] = put(t, s, fmt.Sprintf("/k/%d", i), "v", time.Time{}).Node.ModifiedIndex
		}(i)
	}
	wg.Wait()
	seen := make(map[uint64]bool)
	for _, x := range idx {
		if x < base+1 || x > base+n || seen[x] {
			t.Fatalf("index %d out of range or duplicated", x)
		}
		seen[x] = true
	}
	if got := s.store.Index(); got != base+n {
		t.Fatalf("store index %d, want %d", got, base+n)
	}
}

// TTLs expire through leader-proposed Sync entries, and replaying the log
// after a restart reproduces exactly the same store, expirations included.
func TestTTLExpiresThroughLogAndReplaysIdentically(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	// A large snapshot count keeps everything in the WAL, so restart replays.
	s := startMember(t, dir, clock, func(c *Config) { c.SnapshotCount = 1 << 30 })
	w, err := s.Watch("/ttl", true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	put(t, s, "/ttl/short", "x", clock.Now().Add(5*time.Second))
	put(t, s, "/ttl/long", "y", clock.Now().Add(time.Hour))
	put(t, s, "/ttl/forever", "z", time.Time{})

	clock.Add(6 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("no expire event: %v", err)
		}
		if ev.Action == store.ActionExpire {
			if ev.Node.Key != "/ttl/short" {
				t.Fatalf("expired %s, want /ttl/short", ev.Node.Key)
			}
			break
		}
	}
	if _, err := s.Get(context.Background(), "/ttl/long", false, false, false); err != nil {
		t.Fatalf("/ttl/long expired early: %v", err)
	}
	before := dump(t, s)
	s.Stop()

	s2 := startMember(t, dir, clock, func(c *Config) { c.SnapshotCount = 1 << 30 })
	if after := dump(t, s2); after != before {
		t.Fatalf("replay differs:\nbefore %s\nafter  %s", before, after)
	}
}

// A member that was down does not let keys expire for the time nobody could
// refresh them: the new leader extends pending expirations by the gap.
func TestExtendAfterDowntime(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := startMember(t, dir, clock, nil)
	put(t, s, "/lease", "held", clock.Now().Add(10*time.Second))
	// Let the leader's first Extend record its time: entries 1-5 are the
	// bootstrap change, the leader's empty entry, the cluster
	// configuration, the Extend and the put, in some order after the first
	// two.
	waitFor(t, "a sync", func() bool { return s.appliedIndex.Load() > 4 })
	s.Stop()

	clock.Add(time.Hour) // the cluster was down for an hour
	s2 := startMember(t, dir, clock, nil)
	waitFor(t, "extend applied", func() bool {
		ev, err := s2.Get(context.Background(), "/lease", false, false, false)
		return err == nil && ev.Node.Expiration != nil && ev.Node.Expiration.After(clock.Now())
	})
	clock.Add(5 * time.Second)
	time.Sleep(50 * time.Millisecond) // several sync intervals
	if _, err := s2.Get(context.Background(), "/lease", false, false, true); err != nil {
		t.Fatalf("key expired early after downtime: %v", err)
	}
	clock.Add(10 * time.Second)
	waitFor(t, "expiry after the extended deadline", func() bool {
		_, err := s2.Get(context.Background(), "/lease", false, false, true)
		return apierr.Is(err, apierr.KeyNotFound)
	})
}

func TestDataDirLockedAgainstSecondProcess(t *testing.T) {
	dir := t.TempDir()
	startMember(t, dir, nil, nil)
	if _, err := Start(Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err == nil {
		t.Fatal("second member opened a locked data dir")
	}
}

func TestBatchCodecRoundTripAndRejectsGarbage(t *testing.T) {
	a := (&store.Request{ID: 7, Method: store.MethodPut, Path: "/x", Val: "1"}).Marshal()
	b := (&store.Request{ID: 8, Method: store.MethodDelete, Path: "/y", Recursive: true}).Marshal()
	reqs, err := decodeBatch(encodeBatch([][]byte{a, b}))
	if err != nil || len(reqs) != 2 || reqs[0].Path != "/x" || reqs[1].ID != 8 || !reqs[1].Recursive {
		t.Fatalf("round trip: %v %+v", err, reqs)
	}
	for _, bad := range [][]byte{nil, {0x02}, {0x01}, {0x01, 0x05}, append(encodeBatch([][]byte{a}), 0)} {
		if _, err := decodeBatch(bad); err == nil {
			t.Fatalf("decodeBatch(%x) accepted garbage", bad)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([][]byte{(&store.Request{ID: 1, Method: store.MethodPut, Path: "/a", Val: "b"}).Marshal()}))
	f.Add([]byte{0x01, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeBatch(b) // must not panic
	})
}

func TestWaitRegistryExpiresOnlyOldWaiters(t *testing.T) {
	w := newWaitRegistry()
	old := w.register(1)
	cutoff := time.Now()
	time.Sleep(time.Millisecond) // registration times must differ
	fresh := w.register(2)
	w.expire(cutoff.Add(500*time.Microsecond), apierr.New(apierr.RaftInternal, "request timed out", 0))
	select {
	case r := <-old:
		if !apierr.Is(r.err, apierr.RaftInternal) {
			t.Fatalf("old waiter got %v", r.err)
		}
	default:
		t.Fatal("old waiter not expired")
	}
	onlyWaiterLeft(t, w, fresh, "fresh waiter expired")
}

// onlyWaiterLeft fails the test unless ch is unanswered and the only
// waiter w holds; what says what an answer on ch would mean.
func onlyWaiterLeft(t *testing.T, w *waitRegistry, ch <-chan result, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: %v", what, r.err)
	default:
	}
	if w.len() != 1 {
		t.Fatalf("%d waiters left, want 1", w.len())
	}
}

// A write whose term is recorded only after the member applied a later
// leader's first entry is answered at once, as one recorded before it.
func TestWaitRegistryAnswersWritesProposedBeforeALeaderChange(t *testing.T) {
	w := newWaitRegistry()
	before, late, current := w.register(1), w.register(2), w.register(3)
	w.proposed([]uint64{1}, 4)
	changed := apierr.New(apierr.RaftInternal, "the leader changed", 0)
	w.leaderChanged(5, changed)
	w.proposed([]uint64{2}, 4) // Raft took it in term 4; recorded late
	w.proposed([]uint64{3}, 5)
	for name, ch := range map[string]<-chan result{"recorded before": before, "recorded after": late} {
		select {
		case r := <-ch:
			if r.err != changed {
				t.Fatalf("write %s the change got %v", name, r.err)
			}
		default:
			t.Fatalf("write %s the change not answered", name)
		}
	}
	onlyWaiterLeft(t, w, current, "write of the new term answered")
}

func TestBatchEncoderMatchesEncodeBatch(t *testing.T) {
	reqs := []*store.Request{{ID: 1, Method: store.MethodPut, Path: "/a", Val: "x"}, {ID: 2, Method: store.MethodDelete, Path: "/b"}}
	var e batchEncoder
	for round := 0; round < 2; round++ { // the second round reuses the buffers
		e.reset()
		var raw [][]byte
		for _, r := range reqs {
			e.add(r)
			raw = append(raw, r.Marshal())
		}
		if got, want := e.entry(), encodeBatch(raw); !bytes.Equal(got, want) {
			t.Fatalf("round %d: %x != %x", round, got, want)
		}
	}
}

// A single voter leads at once, new or restarted, without waiting out its
// election timeout (here a minute): it campaigns as soon as Raft knows it
// is the only voter.
func TestSingleVoterLeadsWithoutElectionTimeout(t *testing.T) {
	dir := t.TempDir()
	slow := func(c *Config) { c.ElectionTicks = 6000 } // 60 s at 10 ms a tick
	for _, run := range []string{"new", "restarted"} {
		start := time.Now()
		s := startMember(t, dir, nil, slow)
		if took := time.Since(start); took > 10*time.Second || !s.node.Status().IsLeader {
			t.Fatalf("%s member: leader=%v after %v", run, s.node.Status().IsLeader, took)
		}
		s.Stop()
	}
}

func putReq(id uint64) *store.Request {
	return &store.Request{ID: id, Method: store.MethodPut, Path: fmt.Sprint("/k", id), Val: "v"}
}

// While a stage is busy, writes that arrive go into the same batch until
// it is done, stage after stage; when none is busy, the batch goes with
// what is queued.
func TestGatherBatchWaitsForBusyStages(t *testing.T) {
	stop := make(chan struct{})
	in := make(chan *store.Request, 16)
	var b pendingBatch

	idle := raftnode.NewStage()
	idle.Finish() // a stale signal
	in <- putReq(2)
	if !gatherBatch(&b, putReq(1), in, stop, idle, raftnode.NewStage()) || !slices.Equal(b.ids, []uint64{1, 2}) {
		t.Fatalf("idle stages: batch %v, want [1 2] at once", b.ids)
	}

	ready, apply := raftnode.NewStage(), raftnode.NewStage()
	ready.Start()
	apply.Start()
	ready.Finish() // stale: from work finished before
	ready.Start()
	gathered := make(chan bool)
	go func() { gathered <- gatherBatch(&b, putReq(3), in, stop, ready, apply) }()
	notYet := func(what string) {
		t.Helper()
		select {
		case <-gathered:
			t.Fatalf("the batch went while %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
	in <- putReq(4)
	notYet("the first stage was busy")
	ready.Finish()
	in <- putReq(5)
	notYet("the second stage was busy")
	apply.Finish()
	if !<-gathered || !slices.Equal(b.ids, []uint64{3, 4, 5}) {
		t.Fatalf("busy stages: batch %v, want [3 4 5]", b.ids)
	}
	reqs, err := decodeBatch(b.enc.entry())
	if err != nil || len(reqs) != 3 || reqs[2].Path != "/k5" {
		t.Fatalf("entry decodes to %d requests, %v", len(reqs), err)
	}

	// A done signal left from earlier work does not end the wait.
	only := raftnode.NewStage()
	only.Finish()
	only.Start()
	go func() { gathered <- gatherBatch(&b, putReq(6), in, stop, only) }()
	notYet("the stage was busy, with a stale done signal")
	only.Finish()
	if !<-gathered || !slices.Equal(b.ids, []uint64{6}) {
		t.Fatalf("batch %v, want [6]", b.ids)
	}

	close(stop)
	busy := raftnode.NewStage()
	busy.Start()
	if gatherBatch(&b, putReq(7), in, stop, busy) {
		t.Fatal("gatherBatch went on after stop")
	}
}

// A full batch goes at once, busy stages or not.
func TestGatherBatchFullGoesAtOnce(t *testing.T) {
	in := make(chan *store.Request, 1)
	big := &store.Request{ID: 1, Method: store.MethodPut, Path: "/big", Val: strings.Repeat("x", maxBatchBytes)}
	var b pendingBatch
	busy := raftnode.NewStage()
	busy.Start()
	if !gatherBatch(&b, big, in, nil, busy) || len(b.ids) != 1 {
		t.Fatalf("full batch: %v", b.ids)
	}
}

// Large entries make a snapshot due before SnapshotCount of them: Raft
// keeps every entry since the last snapshot in memory. NoSnapshots
// (-snapshot=false) keeps the whole log all the same.
func TestSnapshotAfterLogBytes(t *testing.T) {
	big := strings.Repeat("v", 64<<10)
	for _, tc := range []struct {
		logBytes int64
		off      bool
		want     bool
	}{{1 << 20, false, true}, {0, false, false}, {1 << 20, true, false}} { // 0: the default, 64 MiB
		dir := t.TempDir()
		s := startMember(t, dir, nil, func(c *Config) {
			c.SnapshotCount = 1 << 30
			c.SnapshotLogBytes = tc.logBytes
			c.NoSnapshots = tc.off
		})
		for i := 0; i < 40; i++ { // 2.5 MiB
			put(t, s, "/blob", big, time.Time{})
		}
		snapped := func() bool {
			files, _ := filepath.Glob(filepath.Join(dir, "snap", "*.snap"))
			return len(files) > 0
		}
		if tc.want {
			waitFor(t, "a snapshot", snapped)
		} else {
			time.Sleep(100 * time.Millisecond)
			if snapped() {
				t.Fatalf("snapshot after 2.5 MiB of log (SnapshotLogBytes %d, NoSnapshots %v)", tc.logBytes, tc.off)
			}
		}
		s.Stop()
	}
}

// With SnapshotAtStop, a clean stop snapshots what was applied since the
// last snapshot, and a restart loads it with nothing left to replay; not
// when the log since the last snapshot is small beside it, nor with
// NoSnapshots.
func TestSnapshotAtStop(t *testing.T) {
	newest := func(dir string) string {
		files, _ := filepath.Glob(filepath.Join(dir, "snap", "*.snap"))
		slices.Sort(files)
		if len(files) == 0 {
			return ""
		}
		return files[len(files)-1]
	}
	for _, tc := range []struct {
		name     string
		noSnaps  bool
		bigFirst bool // a large snapshot first, then a few small writes
	}{
		{"log since the last snapshot", false, false},
		{"NoSnapshots", true, false},
		{"log small beside the last snapshot", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			start := func() *Server {
				return startMember(t, dir, nil, func(c *Config) {
					c.SnapshotCount = 1 << 30
					c.NoSnapshots = tc.noSnaps
					c.SnapshotAtStop = true
				})
			}
			s := start()
			if tc.bigFirst { // 1 MiB of keys, in the snapshot of the stop
				big := strings.Repeat("v", 64<<10)
				for i := range 16 {
					put(t, s, fmt.Sprintf("/big/%d", i), big, time.Time{})
				}
				s.Stop()
				s = start()
			}
			first := newest(dir)
			for i := range 20 {
				put(t, s, fmt.Sprintf("/k/%d", i), "v", time.Time{})
			}
			before, applied := dump(t, s), s.appliedIndex.Load()
			s.Stop()
			last := newest(dir)
			switch {
			case tc.noSnaps && last != "":
				t.Fatalf("snapshot %s with NoSnapshots", last)
			case tc.bigFirst && last != first:
				t.Fatalf("snapshot %s at the stop, after %s; the log since was small", last, first)
			case !tc.noSnaps && !tc.bigFirst && last == "":
				t.Fatal("no snapshot at the stop")
			}

			s2 := startMember(t, dir, nil, nil)
			if after := dump(t, s2); after != before {
				t.Fatalf("restart differs:\nbefore %s\nafter  %s", before, after)
			}
			if !tc.noSnaps && !tc.bigFirst && s2.node.SnapshotIndex < applied {
				t.Fatalf("restarted from the snapshot at %d, %d applied before the stop: a replay was left", s2.node.SnapshotIndex, applied)
			}
		})
	}
}
