package server

import (
	"fmt"
	"time"

	"github.com/arbor-kv/arbor/internal/transport"
)

// selfStats is /v2/stats/self, with etcd 3.4's field names, order and
// omissions: the rates show only while appends flow (etcd drops a rate of
// zero). "role" is Arbor's addition: voter or learner (see DESIGN.md).
type selfStats struct {
	Name       string     `json:"name"`
	ID         string     `json:"id"`
	State      string     `json:"state"`
	StartTime  time.Time  `json:"startTime"`
	LeaderInfo leaderInfo `json:"leaderInfo"`

	RecvAppend    uint64  `json:"recvAppendRequestCnt"`
	RecvPkgRate   float64 `json:"recvPkgRate,omitempty"`
	RecvBandwidth float64 `json:"recvBandwidthRate,omitempty"`

	SendAppend    uint64  `json:"sendAppendRequestCnt"`
	SendPkgRate   float64 `json:"sendPkgRate,omitempty"`
	SendBandwidth float64 `json:"sendBandwidthRate,omitempty"`

	Role string `json:"role"`
}

// leaderInfo is the leader this member follows (itself, when leading) and
// since when it has. Empty while there is none; etcd would keep showing
// the last one.
type leaderInfo struct {
	Leader    string    `json:"leader"`
	Uptime    string    `json:"uptime"`
	StartTime time.Time `json:"startTime"`
}

// SelfStats is /v2/stats/self. Unlike etcd, which guesses the state from
// the appends it last sent or received (and so never shows a candidate),
// state is Raft's own: StateFollower, StatePreCandidate, StateCandidate or
// StateLeader.
func (s *Server) SelfStats() any {
	st := s.node.Status()
	recv, send := s.node.AppendRates()
	ss := selfStats{
		Name: s.id.Name, ID: fmt.Sprintf("%x", s.id.MemberID), State: st.State.String(),
		StartTime:  s.start,
		RecvAppend: st.RecvAppend, RecvPkgRate: recv.Packets, RecvBandwidth: recv.Bytes,
		SendAppend: st.SendAppend, SendPkgRate: send.Packets, SendBandwidth: send.Bytes,
		Role: s.Role(),
	}
	if st.Leader != 0 {
		ss.LeaderInfo = leaderInfo{Leader: fmt.Sprintf("%x", st.Leader), StartTime: st.LeaderSince,
			Uptime: time.Since(st.LeaderSince).String()}
	}
	return ss
}

// leaderStats is /v2/stats/leader: the leader's view of every other member,
// keyed by member ID in hex, as etcd shows it.
type leaderStats struct {
	Leader    string                   `json:"leader"`
	Followers map[string]followerStats `json:"followers"`
}

// followerStats come from the peer transport: round trips on the stream to
// the follower in milliseconds, and messages written to it or lost. etcd
// shows a follower never reached with a minimum of 2^63; Arbor shows 0.
type followerStats struct {
	Latency transport.Latency `json:"latency"`
	Counts  transport.Counts  `json:"counts"`
}

// LeaderStats is /v2/stats/leader; ok is false unless this member leads.
func (s *Server) LeaderStats() (any, bool) {
	if !s.node.Status().IsLeader {
		return nil, false
	}
	ls := leaderStats{Leader: fmt.Sprintf("%x", s.id.MemberID), Followers: map[string]followerStats{}}
	if tr := s.tr.Load(); tr != nil {
		for _, p := range tr.Peers() {
			ls.Followers[fmt.Sprintf("%x", p.ID)] = followerStats{Latency: p.Latency, Counts: p.Counts}
		}
	}
	return ls, true
}
