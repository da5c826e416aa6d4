package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/raftnode"
)

// With 10 ms ticks and 10-tick election timeouts the window is 280 ms.
const (
	trTick     = 10 * time.Millisecond
	trElection = 10
	trWindow   = 280 * time.Millisecond
)

func TestCutOffWindowIsThreeElectionTimeoutsLessTwoTicks(t *testing.T) {
	if got := cutOffWindow(trTick, trElection); got != trWindow {
		t.Fatalf("window %v, want %v", got, trWindow)
	}
}

// A follower hearing heartbeats is never cut off; once they stop it is cut
// off exactly one window after the last one, and back as soon as a leader
// is heard from again.
func TestFollowerCutOffAWindowAfterTheLastLeaderMessage(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newContactTracker(t0, trTick, trElection)
	follower := func(leader uint64, heard time.Time) raftnode.Status {
		return raftnode.Status{ID: 1, Leader: leader, LeaderHeard: heard, State: raft.StateFollower}
	}
	now := t0
	for range 100 { // a second of heartbeats
		now = now.Add(trTick)
		if c.observe(now, follower(2, now)) {
			t.Fatalf("cut off at %v while hearing the leader", now.Sub(t0))
		}
	}
	last := now
	// PreVote soon drops the leader; that alone is no cut-off.
	for now.Sub(last) < trWindow {
		if c.observe(now, follower(0, last)) {
			t.Fatalf("cut off %v after the last heartbeat, before the window", now.Sub(last))
		}
		now = now.Add(trTick)
	}
	if !c.observe(now, follower(0, last)) {
		t.Fatalf("not cut off %v after the last heartbeat", now.Sub(last))
	}
	if cause := c.cause(now, 1); !strings.Contains(cause, "etcdserver: no leader") || !strings.Contains(cause, "leader 2 ") {
		t.Errorf("cause %q names neither the condition nor the lost leader", cause)
	}
	if c.observe(now.Add(trTick), follower(3, now.Add(trTick))) {
		t.Fatal("still cut off after hearing a new leader")
	}
}

// A learner never campaigns, so it keeps its leader in Raft's status
// however long it hears nothing: silence alone must cut it off.
func TestLearnerCutOffThoughRaftKeepsItsLeader(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newContactTracker(t0, trTick, trElection)
	st := raftnode.Status{ID: 1, Leader: 2, LeaderHeard: t0}
	if c.observe(t0.Add(trWindow-time.Millisecond), st) {
		t.Fatal("cut off before the window")
	}
	if !c.observe(t0.Add(trWindow), st) {
		t.Fatal("a silent learner is not cut off")
	}
}

// A leader is in touch while it leads. Once it steps down, the loss is
// dated two election timeouts back (CheckQuorum takes one to two), so it
// is cut off one window less two election timeouts after it was last seen
// leading, unless it hears from a new leader first.
func TestLeaderCutOffAfterSteppingDown(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newContactTracker(t0, trTick, trElection)
	leading := raftnode.Status{ID: 1, Leader: 1, IsLeader: true, State: raft.StateLeader}
	now := t0.Add(time.Second)
	if c.observe(now, leading) {
		t.Fatal("a leader is cut off")
	}
	lastLed := now
	stepped := raftnode.Status{ID: 1, State: raft.StateFollower, LeaderHeard: t0}
	deadline := lastLed.Add(trWindow - 2*trElection*trTick)
	for now = lastLed.Add(trTick); now.Before(deadline); now = now.Add(trTick) {
		if c.observe(now, stepped) {
			t.Fatalf("cut off %v after stepping down, want %v", now.Sub(lastLed), deadline.Sub(lastLed))
		}
	}
	if !c.observe(deadline, stepped) {
		t.Fatalf("not cut off %v after stepping down", deadline.Sub(lastLed))
	}
	if cause := c.cause(deadline, 1); !strings.Contains(cause, "lost its quorum") {
		t.Errorf("cause %q does not say the member lost its quorum", cause)
	}

	// Deposed by a newer leader it hears from at once: never cut off.
	c = newContactTracker(t0, trTick, trElection)
	c.observe(lastLed, leading)
	for now = lastLed.Add(trTick); now.Before(lastLed.Add(2 * trWindow)); now = now.Add(trTick) {
		if c.observe(now, raftnode.Status{ID: 1, Leader: 2, LeaderHeard: now}) {
			t.Fatalf("a deposed leader following its successor is cut off")
		}
	}
}

// A member that never hears from a leader is cut off a window after start.
func TestNoLeaderSinceStart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newContactTracker(t0, trTick, trElection)
	if c.observe(t0.Add(trWindow-trTick), raftnode.Status{ID: 1}) {
		t.Fatal("cut off before the window")
	}
	if !c.observe(t0.Add(trWindow), raftnode.Status{ID: 1}) {
		t.Fatal("not cut off")
	}
	if cause := c.cause(t0.Add(trWindow), 1); !strings.Contains(cause, "since this member started") {
		t.Errorf("cause %q", cause)
	}
}

// The epoch: watch contexts end with the cut-off error; new ones are
// refused with it (carrying the current index) until the member is back.
func TestCutOffEpoch(t *testing.T) {
	var c cutOff
	epoch := c.current()
	w, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	context.AfterFunc(epoch, func() { cancel(context.Cause(epoch)) })
	cause := apierr.New(apierr.RaftInternal, "etcdserver: no leader (test)", 7)
	if !c.set(true, cause) || c.set(true, cause) {
		t.Fatal("set(true) should change the epoch once")
	}
	<-w.Done()
	if !apierr.Is(context.Cause(w), apierr.RaftInternal) {
		t.Fatalf("watch ended with %v", context.Cause(w))
	}
	if got := context.Cause(c.current()); got != cause {
		t.Fatalf("while cut off the epoch's cause is %v, want %v", got, cause)
	}
	if !c.set(false, nil) || c.current().Err() != nil {
		t.Fatal("set(false) should open a new epoch")
	}
}
