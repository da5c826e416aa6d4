package server

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// Two members removed at once through two followers: Raft takes one
// membership change at a time and silently drops the other. Both calls
// succeed, the dropped one tried again, well within the request timeout.
func TestConcurrentMembershipChangesBothApply(t *testing.T) {
	c := startTestCluster(t, 5, 10*time.Millisecond, 20)
	leader := c.waitStable()
	others := c.others(leader)
	via, gone := others[:2], others[2:]
	// Slow the leader's appends a little, so that the first change is
	// still uncommitted when the second reaches the leader.
	for _, o := range others {
		c.net.Delay(leader.netID, o.netID, 30*time.Millisecond)
	}

	errs := make(chan error, 2)
	start := time.Now()
	for i := range 2 {
		go func() { errs <- via[i].srv.RemoveMember(context.Background(), gone[i].srv.ID()) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("remove after %v: %v", time.Since(start), err)
		}
	}
	if took, limit := time.Since(start), leader.srv.cfg.RequestTimeout; took >= limit {
		t.Fatalf("removals took %v, the request timeout is %v", took, limit)
	}
	c.net.Heal()
	for _, m := range append([]*testMember{leader}, via...) {
		waitFor(t, m.srv.cfg.Name+" to lose both members", func() bool {
			cs := m.srv.node.ConfState()
			for _, g := range gone {
				if _, ok := m.srv.members.get(g.srv.ID()); ok || slices.Contains(cs.Voters, g.srv.ID()) {
					return false
				}
			}
			return len(cs.Voters) == 3
		})
	}
}

// A membership change proposed again may see its first attempt committed
// after all; a first attempt adding a member committed after that member's
// removal must not bring it back.
func TestRemovedMemberIsNotAddedBack(t *testing.T) {
	c := startTestCluster(t, 3, 10*time.Millisecond, 20)
	leader := c.waitStable()
	victim := c.others(leader)[0]
	rec, _ := leader.srv.members.get(victim.srv.ID())
	if err := leader.srv.RemoveMember(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}

	late, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []raftpb.ConfChangeType{raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode, raftpb.ConfChangeUpdateNode} {
		cc := raftpb.ConfChange{Type: typ, NodeID: rec.ID, Context: late}
		err := leader.srv.proposeConfChange(context.Background(), cc, func() bool { return false })
		var ae *apierr.Error
		if !errors.As(err, &ae) || !strings.Contains(ae.Cause, "was removed") {
			t.Fatalf("%s of the removed member: %v, want refused as removed", typ, err)
		}
	}
	// The cluster goes on writing; once a member has that write, it has
	// applied the refused changes too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.mustPut(ctx, leader, "/after", "x")
	for _, m := range c.others(victim) {
		waitFor(t, m.srv.cfg.Name+" to apply the write", func() bool {
			_, err := m.srv.store.Get("/after", false, false, time.Now())
			return err == nil
		})
		if _, ok := m.srv.members.get(rec.ID); ok {
			t.Fatalf("%s lists the removed member again", m.srv.cfg.Name)
		}
		cs := m.srv.node.ConfState()
		if slices.Contains(cs.Voters, rec.ID) || slices.Contains(cs.Learners, rec.ID) {
			t.Fatalf("%s's Raft configuration has the removed member again: %v", m.srv.cfg.Name, cs)
		}
		if _, err := m.srv.store.Get(machinesDir+"/"+rec.machineName(), false, false, time.Now()); err == nil {
			t.Fatalf("%s has the removed member's machine key again", m.srv.cfg.Name)
		}
	}
}
