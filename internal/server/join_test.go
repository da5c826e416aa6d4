package server

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A join tried again with the same JoinID (its answer was lost) gets the
// member it added back; one with another JoinID under the same name and
// peer URLs is that member started again without its data, and replaces
// it: the old ID is removed (it may not vote or count for a quorum with
// the log it lost), the joiner gets a new one.
func TestJoinAgainRetryKeepsIDWipedMemberReplaced(t *testing.T) {
	c := startTestCluster(t, 3, 10*time.Millisecond, 20)
	leader := c.waitStable()
	via := c.others(leader)[0].srv
	ctx := context.Background()
	req := joinRequest{Name: "newcomer", PeerURLs: []string{"http://127.0.0.1:1"}, ClientURLs: []string{"http://127.0.0.1:2"}, JoinID: "a1"}

	first, err := via.AddMember(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := via.AddMember(ctx, req)
	if err != nil || again.ID != first.ID {
		t.Fatalf("join tried again: %+v %v, want member %x back", again, err, first.ID)
	}

	req.JoinID = "b2"
	second, err := via.AddMember(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID || second.Name != "newcomer" {
		t.Fatalf("member back without its data got %+v, want a new ID", second)
	}
	for _, m := range c.members {
		waitFor(t, m.srv.cfg.Name+" to replace the member", func() bool {
			_, old := m.srv.members.get(first.ID)
			_, now := m.srv.members.get(second.ID)
			cs := m.srv.node.ConfState()
			return !old && now && !slices.Contains(cs.Voters, first.ID) && !slices.Contains(cs.Learners, first.ID) &&
				m.srv.members.wasRemoved(first.ID)
		})
	}
}
