package server

import (
	"fmt"
	"time"
)

// selfStats is /v2/stats/self, with etcd's field names and order.
type selfStats struct {
	Name       string     `json:"name"`
	ID         string     `json:"id"`
	State      string     `json:"state"`
	Role       string     `json:"role"`
	StartTime  time.Time  `json:"startTime"`
	LeaderInfo leaderInfo `json:"leaderInfo"`
	RecvAppend uint64     `json:"recvAppendRequestCnt"`
	SendAppend uint64     `json:"sendAppendRequestCnt"`
}

type leaderInfo struct {
	Leader    string    `json:"leader"`
	Uptime    string    `json:"uptime"`
	StartTime time.Time `json:"startTime"`
}

// SelfStats is /v2/stats/self. "role" is Arbor's addition: voter or learner.
func (s *Server) SelfStats() any {
	st := s.node.Status()
	state := "StateFollower"
	if st.IsLeader {
		state = "StateLeader"
	}
	ss := selfStats{
		Name: s.id.Name, ID: fmt.Sprintf("%x", s.id.MemberID), State: state, Role: "voter",
		StartTime: s.start, RecvAppend: st.RecvAppend, SendAppend: st.SendAppend,
	}
	if st.Leader != 0 {
		ss.LeaderInfo = leaderInfo{Leader: fmt.Sprintf("%x", st.Leader), StartTime: st.LeaderSince,
			Uptime: s.cfg.Clock().Sub(st.LeaderSince).String()}
	}
	return ss
}

// leaderStats is /v2/stats/leader: the leader's view of its followers.
type leaderStats struct {
	Leader    string                   `json:"leader"`
	Followers map[string]followerStats `json:"followers"`
}

type followerStats struct {
	Latency struct {
		Current float64 `json:"current"`
		Average float64 `json:"average"`
		StdDev  float64 `json:"standardDeviation"`
		Minimum float64 `json:"minimum"`
		Maximum float64 `json:"maximum"`
	} `json:"latency"`
	Counts struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
}

// LeaderStats is /v2/stats/leader; a single member has no followers.
func (s *Server) LeaderStats() (any, bool) {
	if !s.node.Status().IsLeader {
		return nil, false
	}
	return leaderStats{Leader: fmt.Sprintf("%x", s.id.MemberID), Followers: map[string]followerStats{}}, true
}
