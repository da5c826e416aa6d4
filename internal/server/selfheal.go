package server

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Self-healing membership (etcd 0.4's monitorPeerActivity and
// monitorActiveSize, with learners in place of its standbys). The leader,
// and only the leader, looks at the members every half election timeout
// and makes at most one membership change at a time, waiting for it to be
// applied before it considers the next:
//
//  1. a voter unreachable for removeDelay seconds is removed, and then a
//     learner unreachable that long;
//  2. while there are fewer voters than activeSize and every voter is
//     reachable, the reachable learner connected the longest is promoted;
//  3. while there are more voters than activeSize, a voter is demoted to
//     learner (an unreachable one first). etcd 0.4 removed such peers and
//     they carried on as standbys; a learner is that standby.
//
// The leader never removes or demotes itself. A demotion happens only when
// the reachable voters left make a quorum of the new configuration, and
// removing an unreachable voter never reduces how many reachable voters
// there are. A promotion waits until every voter is reachable (a voter
// just gone is removed first, after removeDelay, rather than outvoted);
// then, with two voters or more, the old voters alone are a quorum of the
// new configuration, so a learner still catching up cannot stall commits.
//
// Reachability is the peer transport's: a member is reachable while the
// leader's stream to it is up (Transport.Peer(id).Connected). A killed
// member's stream breaks at once and a silent one ends after the
// transport's idle timeout (5s). Raft's own view (Progress.RecentActive,
// reset every election timeout under CheckQuorum) would do as well but
// is not exposed by raftnode. A member counts as unreachable from the
// first time this leader saw it so, so a new leader waits a full
// removeDelay before it removes anyone, and a member's clock starts over
// each time it is seen connected.
//
// Learners go after removeDelay too: a machine replaced for good (an
// autoscaled instance, say) would otherwise stay listed in /v2/machines,
// where clients look for endpoints, and be redialled by the leader
// forever. Removing one never touches the quorum.

// quorum is the majority of n voters.
func quorum(n int) int { return n/2 + 1 }

// voterCount counts the voters as of the applied index.
func (s *Server) voterCount() int {
	n := 0
	for _, m := range s.members.list() {
		if !m.Learner {
			n++
		}
	}
	return n
}

// clusterIsFull reports whether a new member must join as a learner: the
// cluster already has its activeSize of voters. Two members joining at
// once may both be added as voters; the leader then demotes one.
func (s *Server) clusterIsFull() bool {
	return s.voterCount() >= s.ClusterConfig().ActiveSize
}

type healKind int

const (
	healNone healKind = iota
	healRemove
	healPromote
	healDemote
)

func (k healKind) String() string {
	return [...]string{"none", "remove", "promote", "demote"}[k]
}

// healView is what the leader knows when it decides.
type healView struct {
	self    uint64
	members []memberRecord
	cfg     ClusterConfig
	now     time.Time
	// upSince holds the reachable members (self included) and since when
	// their stream is up; downSince the unreachable ones and since when
	// this leader has seen them so.
	upSince, downSince map[uint64]time.Time
}

// healAction is one membership change, or none.
type healAction struct {
	kind   healKind
	member memberRecord
	why    string
}

// decideHeal picks the next change (see the comment at the top). It is
// pure, so the policy is tested without a cluster.
func decideHeal(v healView) healAction {
	var voters, learners []memberRecord
	liveVoters := 0
	for _, m := range v.members {
		if m.Learner {
			learners = append(learners, m)
			continue
		}
		voters = append(voters, m)
		if _, up := v.upSince[m.ID]; up || m.ID == v.self {
			liveVoters++
		}
	}
	down := v.downLongest(voters)
	if down != nil && len(voters) > 1 {
		if act, due := v.removeIfGone(*down); due {
			return act
		}
	}
	if gone := v.downLongest(learners); gone != nil {
		if act, due := v.removeIfGone(*gone); due {
			return act
		}
	}
	switch {
	case len(voters) < v.cfg.ActiveSize:
		var pick *memberRecord
		for i, m := range learners {
			since, up := v.upSince[m.ID]
			if up && (pick == nil || since.Before(v.upSince[pick.ID]) || (since.Equal(v.upSince[pick.ID]) && m.ID < pick.ID)) {
				pick = &learners[i]
			}
		}
		if pick != nil && liveVoters == len(voters) {
			return healAction{healPromote, *pick, fmt.Sprintf("%d voters, activeSize %d", len(voters), v.cfg.ActiveSize)}
		}
	case len(voters) > v.cfg.ActiveSize:
		pick := down
		if pick == nil { // the reachable voter connected most recently
			for i, m := range voters {
				if m.ID == v.self {
					continue
				}
				if pick == nil || v.upSince[m.ID].After(v.upSince[pick.ID]) || (v.upSince[m.ID].Equal(v.upSince[pick.ID]) && m.ID > pick.ID) {
					pick = &voters[i]
				}
			}
		}
		if pick == nil {
			return healAction{}
		}
		liveAfter := liveVoters
		if _, up := v.upSince[pick.ID]; up {
			liveAfter--
		}
		if liveAfter >= quorum(len(voters)-1) {
			return healAction{healDemote, *pick, fmt.Sprintf("%d voters, activeSize %d", len(voters), v.cfg.ActiveSize)}
		}
	}
	return healAction{}
}

// downLongest returns the member of ms (not this one) seen unreachable the
// longest, or nil if all are reachable.
func (v healView) downLongest(ms []memberRecord) *memberRecord {
	var down *memberRecord
	for i, m := range ms {
		since, ok := v.downSince[m.ID]
		if m.ID == v.self || !ok {
			continue
		}
		if down == nil || since.Before(v.downSince[down.ID]) {
			down = &ms[i]
		}
	}
	return down
}

// removeIfGone is the removal of unreachable member m, due once it has been
// unreachable for removeDelay.
func (v healView) removeIfGone(m memberRecord) (healAction, bool) {
	gone := v.now.Sub(v.downSince[m.ID])
	if gone < v.cfg.removeDelay() {
		return healAction{}, false
	}
	return healAction{healRemove, m, fmt.Sprintf("unreachable for %s (removeDelay %gs)", gone.Round(time.Millisecond), v.cfg.RemoveDelay)}, true
}

// healState is the leader's memory between checks.
type healState struct {
	term      uint64               // the term it is for
	downSince map[uint64]time.Time // first seen unreachable in this term
}

// selfHealLoop runs the checks while this member leads.
func (s *Server) selfHealLoop() {
	defer s.wg.Done()
	interval := max(time.Duration(s.cfg.ElectionTicks)*s.cfg.TickInterval/2, 10*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	var h healState
	for {
		select {
		case <-t.C:
		case <-s.stopc:
			return
		}
		st := s.node.Status()
		if !st.IsLeader {
			h = healState{}
			continue
		}
		if h.term != st.Term {
			h = healState{term: st.Term, downSince: map[uint64]time.Time{}}
		}
		s.healOnce(&h, time.Now())
	}
}

// healOnce stores the configuration if none is yet, else makes the next
// change decideHeal picks, and waits for it.
func (s *Server) healOnce(h *healState, now time.Time) {
	// A change dropped by Raft (another one pending) is never applied;
	// give up on it after a few election timeouts and decide again.
	timeout := max(5*time.Duration(s.cfg.ElectionTicks)*s.cfg.TickInterval, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.maybeSeedClusterConfig(ctx) {
		return
	}
	v := healView{self: s.id.MemberID, members: s.members.list(), cfg: s.ClusterConfig(), now: now,
		upSince: map[uint64]time.Time{s.id.MemberID: now}, downSince: map[uint64]time.Time{}}
	tr := s.tr.Load()
	for _, m := range v.members {
		if m.ID == s.id.MemberID {
			continue
		}
		if tr != nil {
			if st, ok := tr.Peer(m.ID); ok && st.Connected {
				v.upSince[m.ID] = st.ActiveSince
				continue
			}
		}
		if _, seen := h.downSince[m.ID]; !seen {
			h.downSince[m.ID] = now
		}
		v.downSince[m.ID] = h.downSince[m.ID]
	}
	h.downSince = v.downSince // forget members that are up or gone
	act := decideHeal(v)
	if act.kind == healNone {
		return
	}
	m := act.member
	s.log.Warn("self-healing membership change", "change", act.kind.String(), "name", m.Name,
		"id", fmt.Sprintf("%x", m.ID), "why", act.why)
	var err error
	switch act.kind {
	case healRemove:
		err = s.RemoveMember(ctx, m.ID)
	case healPromote, healDemote:
		m.Learner = act.kind == healDemote
		typ := raftpb.ConfChangeAddNode
		if m.Learner {
			typ = raftpb.ConfChangeAddLearnerNode
		}
		err = s.proposeMember(ctx, typ, m)
	}
	if err != nil {
		s.log.Warn("self-healing membership change failed; will decide again", "change", act.kind.String(), "name", m.Name, "err", err)
	}
}
