package server

import (
	"errors"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// healCase describes a cluster as the leader (ID 1) sees it.
type healCase struct {
	name     string
	voters   []uint64
	learners []uint64
	// up maps reachable members to how long their stream has been up;
	// down maps unreachable ones to how long the leader has seen them so.
	up, down   map[uint64]time.Duration
	activeSize int
	want       healKind
	wantID     uint64
}

func (c healCase) view() healView {
	now := time.Unix(1000, 0)
	v := healView{self: 1, now: now, cfg: ClusterConfig{ActiveSize: c.activeSize, RemoveDelay: 10, SyncInterval: 5},
		upSince: map[uint64]time.Time{1: now}, downSince: map[uint64]time.Time{}}
	for _, id := range c.voters {
		v.members = append(v.members, memberRecord{ID: id, Name: "v"})
	}
	for _, id := range c.learners {
		v.members = append(v.members, memberRecord{ID: id, Name: "l", Learner: true})
	}
	for id, d := range c.up {
		v.upSince[id] = now.Add(-d)
	}
	for id, d := range c.down {
		v.downSince[id] = now.Add(-d)
	}
	return v
}

func TestDecideHeal(t *testing.T) {
	s := time.Second
	cases := []healCase{
		{name: "healthy", voters: []uint64{1, 2, 3}, learners: []uint64{4},
			up: map[uint64]time.Duration{2: s, 3: s, 4: s}, activeSize: 3, want: healNone},
		{name: "voter down for less than removeDelay: wait, and do not promote yet",
			voters: []uint64{1, 2, 3}, learners: []uint64{4},
			up: map[uint64]time.Duration{2: s, 4: s}, down: map[uint64]time.Duration{3: 9 * s}, activeSize: 3, want: healNone},
		{name: "voter down for removeDelay is removed",
			voters: []uint64{1, 2, 3}, learners: []uint64{4},
			up: map[uint64]time.Duration{2: s, 4: s}, down: map[uint64]time.Duration{3: 10 * s}, activeSize: 3, want: healRemove, wantID: 3},
		{name: "the voter down the longest goes first",
			voters: []uint64{1, 2, 3, 4, 5},
			up:     map[uint64]time.Duration{2: s, 3: s}, down: map[uint64]time.Duration{4: 11 * s, 5: 12 * s}, activeSize: 5, want: healRemove, wantID: 5},
		{name: "the leader never removes itself",
			voters: []uint64{1, 2, 3}, up: map[uint64]time.Duration{2: s, 3: s}, down: map[uint64]time.Duration{1: 99 * s}, activeSize: 3, want: healNone},
		{name: "a learner takes the free seat",
			voters: []uint64{1, 2}, learners: []uint64{4},
			up: map[uint64]time.Duration{2: s, 4: s}, activeSize: 3, want: healPromote, wantID: 4},
		{name: "the learner connected the longest is promoted",
			voters: []uint64{1, 2, 3}, learners: []uint64{4, 5, 6},
			up: map[uint64]time.Duration{2: s, 3: s, 4: s, 5: 3 * s, 6: 2 * s}, activeSize: 5, want: healPromote, wantID: 5},
		{name: "an unreachable learner is not promoted",
			voters: []uint64{1, 2}, learners: []uint64{4},
			up: map[uint64]time.Duration{2: s}, down: map[uint64]time.Duration{4: 9 * s}, activeSize: 3, want: healNone},
		{name: "a learner down for removeDelay is removed",
			voters: []uint64{1, 2, 3}, learners: []uint64{4, 5},
			up: map[uint64]time.Duration{2: s, 3: s, 5: s}, down: map[uint64]time.Duration{4: 10 * s}, activeSize: 3, want: healRemove, wantID: 4},
		{name: "the learner down the longest goes first",
			voters: []uint64{1, 2}, learners: []uint64{4, 5},
			up: map[uint64]time.Duration{2: s}, down: map[uint64]time.Duration{4: 11 * s, 5: 12 * s}, activeSize: 3, want: healRemove, wantID: 5},
		{name: "an unreachable voter goes before an unreachable learner",
			voters: []uint64{1, 2, 3}, learners: []uint64{4},
			up: map[uint64]time.Duration{2: s}, down: map[uint64]time.Duration{3: 10 * s, 4: 99 * s}, activeSize: 3, want: healRemove, wantID: 3},
		{name: "a voter down for less than removeDelay does not hold up a learner's removal",
			voters: []uint64{1, 2, 3}, learners: []uint64{4},
			up: map[uint64]time.Duration{2: s}, down: map[uint64]time.Duration{3: 9 * s, 4: 10 * s}, activeSize: 3, want: healRemove, wantID: 4},
		{name: "a lone voter promotes a reachable learner",
			voters: []uint64{1}, learners: []uint64{4}, up: map[uint64]time.Duration{4: s}, activeSize: 3, want: healPromote, wantID: 4},
		{name: "too many voters: the one connected most recently is demoted, never the leader",
			voters: []uint64{1, 2, 3, 4},
			up:     map[uint64]time.Duration{2: 5 * s, 3: s, 4: 3 * s}, activeSize: 3, want: healDemote, wantID: 3},
		{name: "too many voters: an unreachable one is demoted first",
			voters: []uint64{1, 2, 3, 4},
			up:     map[uint64]time.Duration{2: s, 3: s}, down: map[uint64]time.Duration{4: s}, activeSize: 3, want: healDemote, wantID: 4},
		{name: "learners without a free seat stay learners",
			voters: []uint64{1, 2, 3}, learners: []uint64{4, 5},
			up: map[uint64]time.Duration{2: s, 3: s, 4: s, 5: s}, activeSize: 3, want: healNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := decideHeal(c.view())
			if got.kind != c.want || (c.want != healNone && got.member.ID != c.wantID) {
				t.Fatalf("got %v of %d (%s), want %v of %d", got.kind, got.member.ID, got.why, c.want, c.wantID)
			}
		})
	}
}

// Whatever the view, an action never targets the leader, removes only
// unreachable members, and never leaves fewer reachable voters than a
// quorum of the new voters (but for a lone voter promoting a reachable
// learner).
func TestDecideHealKeepsQuorum(t *testing.T) {
	s := time.Second
	for mask := 0; mask < 1<<12; mask++ {
		c := healCase{activeSize: 3 + mask>>10, up: map[uint64]time.Duration{}, down: map[uint64]time.Duration{}}
		c.voters = []uint64{1}
		for id := uint64(2); id <= 6; id++ {
			bits := mask >> (2 * (id - 2)) & 3
			switch {
			case id <= 3 || bits&2 == 0:
				c.voters = append(c.voters, id)
			default:
				c.learners = append(c.learners, id)
			}
			if bits&1 == 1 {
				c.up[id] = time.Duration(id) * s
			} else {
				c.down[id] = time.Duration(id) * 3 * s
			}
		}
		act := decideHeal(c.view())
		if act.kind == healNone {
			continue
		}
		if act.member.ID == 1 {
			t.Fatalf("%+v: %v of the leader", c, act.kind)
		}
		live := 1
		for _, id := range c.voters[1:] {
			if _, up := c.up[id]; up {
				live++
			}
		}
		n := len(c.voters)
		_, targetUp := c.up[act.member.ID]
		switch act.kind {
		case healRemove: // a removal cannot commit without a quorum anyway
			if targetUp {
				t.Fatalf("%+v: removes the reachable %d", c, act.member.ID)
			}
		case healDemote:
			if targetUp {
				live--
			}
			if live < quorum(n-1) {
				t.Fatalf("%+v: demotes %d leaving %d of %d reachable", c, act.member.ID, live, n-1)
			}
		case healPromote:
			if !targetUp || (live < quorum(n+1) && n > 1) {
				t.Fatalf("%+v: promotes %d with %d of %d reachable", c, act.member.ID, live, n+1)
			}
		}
	}
}

func TestClusterConfigBounds(t *testing.T) {
	ok := DefaultClusterConfig()
	if err := ok.check(7); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	if got := (ClusterConfig{}).withDefaults(); got != ok {
		t.Fatalf("zero config with defaults = %+v", got)
	}
	for _, c := range []struct {
		cfg  ClusterConfig
		code apierr.Code
	}{
		{ClusterConfig{ActiveSize: 2, RemoveDelay: 1800, SyncInterval: 5}, apierr.InvalidActive},
		{ClusterConfig{ActiveSize: 3, RemoveDelay: 1.5, SyncInterval: 5}, apierr.InvalidRemove},
		{ClusterConfig{ActiveSize: 3, RemoveDelay: 2, SyncInterval: 0.5}, apierr.InvalidField},
	} {
		err := c.cfg.check(7)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != c.code || e.Index != 7 || e.StatusCode() != 400 {
			t.Errorf("%+v: got %v, want code %d", c.cfg, err, c.code)
		}
	}
	if err := (ClusterConfig{ActiveSize: 3, RemoveDelay: 2, SyncInterval: 1}).check(0); err != nil {
		t.Fatalf("the minimums refused: %v", err)
	}
}
