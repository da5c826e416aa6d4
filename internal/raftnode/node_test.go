package raftnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// member is a single-voter node under test with a trivial state machine:
// the list of applied proposals.
type member struct {
	n       *Node
	applied chan []byte
	done    chan struct{}
}

func startMember(t *testing.T, dir string, restore func(io.Reader) error) *member {
	t.Helper()
	m := startUnled(t, dir, restore, 10*time.Millisecond, []raft.Peer{{ID: 7}})
	_ = m.n.Campaign(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for !m.n.Status().IsLeader {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(time.Millisecond)
	}
	return m
}

// startUnled starts member 7 of a new cluster of peers, with the given
// tick, applying what commits, and does not wait for a leader.
func startUnled(t *testing.T, dir string, restore func(io.Reader) error, tick time.Duration, peers []raft.Peer) *member {
	t.Helper()
	id := Identity{MemberID: 7, ClusterID: 9, Name: "m"}
	n, err := Start(Config{
		Identity: id, DataDir: dir, Peers: peers,
		TickInterval: tick, ElectionTicks: 5, HeartbeatTicks: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, restore)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{n: n, applied: make(chan []byte, 1024), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for a := range n.Apply() {
			for _, e := range a.Entries {
				applyTestEntry(n, e, func(data []byte) { m.applied <- data })
			}
			a.Done()
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// applyTestEntry applies a conf change to n, or hands a normal entry's
// non-empty data to normal: the apply loop of the tests' state machines.
func applyTestEntry(n *Node, e raftpb.Entry, normal func([]byte)) {
	switch e.Type {
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			panic(err)
		}
		n.ApplyConfChange(cc)
	case raftpb.EntryNormal:
		if len(e.Data) > 0 {
			normal(e.Data)
		}
	}
}

func (m *member) stop() {
	m.n.Stop()
	<-m.done
}

// proposeApplied proposes data and waits until it is applied.
func (m *member) proposeApplied(t *testing.T, data string) {
	t.Helper()
	if err := m.n.Propose(context.Background(), []byte(data)); err != nil {
		t.Fatal(err)
	}
	m.next(t)
}

// snapshotNow saves a snapshot of body at the commit index and returns it.
func (m *member) snapshotNow(t *testing.T, body []byte) uint64 {
	t.Helper()
	idx := m.n.Status().Commit
	term, err := m.n.Term(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.n.SaveSnapshot(idx, term, m.n.ConfState(), nil, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return idx
}

func (m *member) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-m.applied:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("nothing applied")
		return nil
	}
}

func TestProposeApplyReadIndexAndRestart(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, dir, func(io.Reader) error { t.Fatal("no snapshot expected"); return nil })
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if err := m.n.Propose(ctx, []byte(fmt.Sprint("p", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		if got := m.next(t); string(got) != fmt.Sprint("p", i) {
			t.Fatalf("applied %q, want p%d", got, i)
		}
	}
	idx, err := m.n.ReadIndex(ctx)
	if err != nil || idx < 20 {
		t.Fatalf("ReadIndex = %d, %v; want at least the 20 proposals' indexes", idx, err)
	}
	if st := m.n.Status(); st.Commit < idx || st.Leader != 7 {
		t.Fatalf("status %+v", st)
	}
	m.stop()

	// A restart replays every proposal from the WAL, in order.
	m2 := startMember(t, dir, func(io.Reader) error { t.Fatal("no snapshot expected"); return nil })
	if !m2.n.Restarted || m2.n.Identity.MemberID != 7 {
		t.Fatalf("restart: restarted=%v identity=%+v", m2.n.Restarted, m2.n.Identity)
	}
	for i := 0; i < 20; i++ {
		if got := m2.next(t); string(got) != fmt.Sprint("p", i) {
			t.Fatalf("replayed %q, want p%d", got, i)
		}
	}
}

// After a snapshot, a restart restores it and replays only what follows.
func TestRestartFromSnapshotReplaysOnlyTheTail(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, dir, nil)
	for i := 0; i < 5; i++ {
		m.proposeApplied(t, fmt.Sprint("a", i))
	}
	snapIndex := m.snapshotNow(t, []byte("state-after-a0..a4"))
	for i := 0; i < 3; i++ {
		m.proposeApplied(t, fmt.Sprint("b", i))
	}
	m.stop()

	var restored bytes.Buffer
	m2 := startMember(t, dir, func(r io.Reader) error { restored.Reset(); _, err := io.Copy(&restored, r); return err })
	if restored.String() != "state-after-a0..a4" || m2.n.SnapshotIndex != snapIndex {
		t.Fatalf("restored %q at %d, want the snapshot at %d", restored.String(), m2.n.SnapshotIndex, snapIndex)
	}
	for i := 0; i < 3; i++ {
		if got := m2.next(t); string(got) != fmt.Sprint("b", i) {
			t.Fatalf("replayed %q, want b%d", got, i)
		}
	}
	select {
	case b := <-m2.applied:
		t.Fatalf("replayed %q, which the snapshot covers", b)
	default:
	}
}

// The WAL is read, while the snapshot loads, for the newest snapshot's
// index. When that snapshot turns out to be damaged and the member falls
// back to the one before, the WAL is read again from there, so the
// entries between the two are replayed too.
func TestRestartFallsBackToTheOlderSnapshot(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, dir, nil)
	m.proposeApplied(t, "a0")
	older := m.snapshotNow(t, []byte("state-after-a0"))
	for i := 0; i < 3; i++ {
		m.proposeApplied(t, fmt.Sprint("b", i))
	}
	newer := m.snapshotNow(t, []byte("state-after-b2"))
	m.proposeApplied(t, "c0")
	m.stop()

	snaps, err := filepath.Glob(filepath.Join(dir, "snap", "*.snap"))
	if err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots %v (%v), want two", snaps, err)
	}
	slices.Sort(snaps) // the names sort by index: the newer is last
	body, err := os.ReadFile(snaps[1])
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 0xff
	if err := os.WriteFile(snaps[1], body, 0o600); err != nil {
		t.Fatal(err)
	}

	var restored bytes.Buffer
	m2 := startMember(t, dir, func(r io.Reader) error { restored.Reset(); _, err := io.Copy(&restored, r); return err })
	if restored.String() != "state-after-a0" || m2.n.SnapshotIndex != older {
		t.Fatalf("restored %q at %d, want the older snapshot at %d (the newer, at %d, is damaged)",
			restored.String(), m2.n.SnapshotIndex, older, newer)
	}
	for _, want := range []string{"b0", "b1", "b2", "c0"} {
		if got := m2.next(t); string(got) != want {
			t.Fatalf("replayed %q, want %s", got, want)
		}
	}
}

// Old snapshots are deleted by the janitor, off the Ready loop: after four
// snapshots the newest two are left.
func TestJanitorPurgesOldSnapshots(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, dir, nil)
	for s := 0; s < 4; s++ {
		m.proposeApplied(t, fmt.Sprint("a", s))
		m.snapshotNow(t, bytes.Repeat([]byte{byte(s)}, 1000))
	}
	var snaps []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var err error
		if snaps, err = filepath.Glob(filepath.Join(dir, "snap", "*.snap")); err != nil {
			t.Fatal(err)
		}
		if len(snaps) == 2 {
			return
		}
	}
	t.Fatalf("%d snapshots left, want the newest 2: %v", len(snaps), snaps)
}

// The Ready stage signals Done each time the Ready loop finishes a Ready,
// and is not Busy once it has nothing left to handle.
func TestReadyStage(t *testing.T) {
	m := startMember(t, t.TempDir(), func(io.Reader) error { return nil })
	for i := 0; i < 3; i++ {
		select { // drop what earlier Readys left
		case <-m.n.ReadyStage().Done():
		default:
		}
		m.proposeApplied(t, fmt.Sprint("p", i))
		select {
		case <-m.n.ReadyStage().Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("proposal %d applied, but no Ready was reported done", i)
		}
		deadline := time.Now().Add(5 * time.Second)
		for m.n.ReadyStage().Busy() {
			if time.Now().After(deadline) {
				t.Fatal("the Ready stage stays busy with nothing to do")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// A proposal made before there is a leader waits for one, as it did under
// raft.Node, instead of failing at once with ErrProposalDropped.
func TestProposeWaitsForALeader(t *testing.T) {
	noRestore := func(io.Reader) error { t.Fatal("no snapshot expected"); return nil }
	// A sole voter elects itself after an election timeout (50-100 ms).
	m := startUnled(t, t.TempDir(), noRestore, 10*time.Millisecond, []raft.Peer{{ID: 7}})
	if err := m.n.Propose(context.Background(), []byte("early")); err != nil {
		t.Fatalf("proposal before the election: %v", err)
	}
	if got := m.next(t); string(got) != "early" {
		t.Fatalf("applied %q", got)
	}

	// One of two voters never gets a leader: the proposal waits until its
	// context ends.
	m2 := startUnled(t, t.TempDir(), noRestore, 10*time.Millisecond, []raft.Peer{{ID: 7}, {ID: 8}})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m2.n.Propose(ctx, []byte("never"))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("leaderless proposal: %v after %v, want it to wait for its deadline", err, time.Since(start))
	}
}

// Work handed to Raft from other goroutines (a campaign, a proposal) is
// taken at once, not at the next tick.
func TestRaftWorkWakesTheReadyLoop(t *testing.T) {
	m := startUnled(t, t.TempDir(), func(io.Reader) error { return nil }, time.Hour, []raft.Peer{{ID: 7}})
	// The bootstrap's conf change needs no tick either: applying it makes
	// the sole voter campaign.
	deadline := time.Now().Add(5 * time.Second)
	for !m.n.Status().IsLeader {
		if time.Now().After(deadline) {
			t.Fatal("no leader without ticks")
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 3 {
		m.proposeApplied(t, fmt.Sprint("w", i))
	}
	idx, err := m.n.ReadIndex(context.Background())
	if err != nil || idx < 4 {
		t.Fatalf("read index %d, %v", idx, err)
	}
}

// Messages Raft must not take from the network are dropped without error,
// as raft.Node dropped them: an answer from a member not in the
// configuration, a local message type.
func TestStepDropsForeignMessages(t *testing.T) {
	m := startMember(t, t.TempDir(), func(io.Reader) error { return nil })
	for _, msg := range []raftpb.Message{
		{Type: raftpb.MsgAppResp, From: 99, To: 7, Term: 1},
		{Type: raftpb.MsgHup, From: 99, To: 7},
	} {
		if err := m.n.Step(context.Background(), msg); err != nil {
			t.Errorf("%v from 99: %v", msg.Type, err)
		}
	}
	m.proposeApplied(t, "still leading")
}

// After Stop nothing would persist a proposal, so it is refused.
func TestProposeAfterStop(t *testing.T) {
	m := startMember(t, t.TempDir(), func(io.Reader) error { return nil })
	m.stop()
	if err := m.n.Propose(context.Background(), []byte("late")); !errors.Is(err, ErrStopped) {
		t.Fatalf("proposal after stop: %v, want ErrStopped", err)
	}
}

// A stop right after a snapshot (as at a clean stop) still releases what
// that snapshot made obsolete: only the newest two snapshot files are left.
// The Ready loop used to leave the cleanup to a coin toss against the stop.
func TestStopRightAfterSnapshotStillPurges(t *testing.T) {
	for round := range 10 {
		dir := t.TempDir()
		m := startMember(t, dir, nil)
		for i := range 3 {
			m.proposeApplied(t, fmt.Sprint("a", i))
			m.snapshotNow(t, []byte(fmt.Sprint("state-", i)))
		}
		m.stop()
		if files, _ := filepath.Glob(filepath.Join(dir, "snap", "*.snap")); len(files) != 2 {
			t.Fatalf("round %d: %d snapshot files after the stop, want the newest 2: %v", round, len(files), files)
		}
	}
}
