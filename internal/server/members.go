package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/httpapi"
	"github.com/arbor-kv/arbor/internal/store"
)

// machinesDir holds a hidden key per member, as etcd 0.4 kept them:
// /_etcd/machines/<name> = "raft=<peer URL>&etcd=<client URL>". The keys
// are written by the apply loop when a membership change applies, so they
// have real indexes, are watchable and travel in snapshots; clients may
// only read them.
const machinesDir = "/_etcd/machines"

// memberRecord is one member as the log records it: the context of the
// conf change that added it, and the snapshot's membership record.
type memberRecord struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	Learner    bool     `json:"learner,omitempty"`
	// JoinID is the joining process's random ID, kept in the record (until
	// the member publishes other URLs), so that a join tried again after a
	// lost answer is told from the member starting again without its data.
	JoinID string `json:"joinID,omitempty"`
}

// sameAddresses reports whether m and o give the member the same name and
// URLs.
func (m memberRecord) sameAddresses(o memberRecord) bool {
	return m.ID == o.ID && m.Name == o.Name &&
		slices.Equal(m.PeerURLs, o.PeerURLs) && slices.Equal(m.ClientURLs, o.ClientURLs)
}

func (m memberRecord) machineValue() string {
	return "raft=" + first(m.PeerURLs) + "&etcd=" + first(m.ClientURLs)
}

// machineName names the member's /_etcd/machines key: its name, or its ID
// in hex while it has none (added by peer URL, not started yet).
func (m memberRecord) machineName() string {
	if m.Name == "" {
		return fmt.Sprintf("%x", m.ID)
	}
	return m.Name
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// membership is the cluster's members as of the applied index. The apply
// goroutine alone changes it; others read copies.
type membership struct {
	mu   sync.RWMutex
	byID map[uint64]memberRecord // guarded by mu
	// removed holds the IDs removed from the cluster, kept in snapshots
	// so that a removed member coming back is told (410 Gone) even after
	// the others restarted from a snapshot taken after the removal.
	removed map[uint64]bool // guarded by mu
}

// membershipRecord is the snapshot's membership record. Snapshots written
// before removed IDs were kept hold the member list alone, a JSON array.
type membershipRecord struct {
	Members []memberRecord `json:"members"`
	Removed []uint64       `json:"removed,omitempty"`
}

func newMembership() *membership {
	return &membership{byID: map[uint64]memberRecord{}, removed: map[uint64]bool{}}
}

// list returns the members sorted by ID.
func (ms *membership) list() []memberRecord {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	out := make([]memberRecord, 0, len(ms.byID))
	for _, m := range ms.byID {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b memberRecord) int { return cmpUint(a.ID, b.ID) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (ms *membership) get(id uint64) (memberRecord, bool) {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	m, ok := ms.byID[id]
	return m, ok
}

func (ms *membership) byName(name string) (memberRecord, bool) {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	for _, m := range ms.byID {
		if m.Name == name {
			return m, true
		}
	}
	return memberRecord{}, false
}

func (ms *membership) put(m memberRecord) {
	ms.mu.Lock()
	ms.byID[m.ID] = m
	delete(ms.removed, m.ID)
	ms.mu.Unlock()
}

func (ms *membership) remove(id uint64) {
	ms.mu.Lock()
	delete(ms.byID, id)
	ms.removed[id] = true
	ms.mu.Unlock()
}

// wasRemoved reports whether id was removed from the cluster.
func (ms *membership) wasRemoved(id uint64) bool {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	return ms.removed[id]
}

// encode is the snapshot's membership record.
func (ms *membership) encode() []byte {
	rec := membershipRecord{Members: ms.list()}
	ms.mu.RLock()
	for id := range ms.removed {
		rec.Removed = append(rec.Removed, id)
	}
	ms.mu.RUnlock()
	slices.Sort(rec.Removed)
	b, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("server: encode members: %v", err)) // plain data: cannot fail
	}
	return b
}

// restore replaces the members with a snapshot's record (nil: none known)
// and adds its removed IDs to those already known.
func (ms *membership) restore(b []byte) error {
	var rec membershipRecord
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &rec.Members); err != nil {
			return fmt.Errorf("server: snapshot's membership record: %w", err)
		}
	} else if len(b) > 0 {
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("server: snapshot's membership record: %w", err)
		}
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.byID = make(map[uint64]memberRecord, len(rec.Members))
	for _, m := range rec.Members {
		ms.byID[m.ID] = m
	}
	for _, id := range rec.Removed {
		ms.removed[id] = true
	}
	for id := range ms.byID {
		delete(ms.removed, id)
	}
	return nil
}

// applyConfChange records a committed membership change: in the registry,
// in the store's /_etcd/machines keys, and in the peer transport. self
// describes this member, for conf changes written before members carried
// a context (data dirs of single-member arbor).
//
// A change that would add or update a member already removed is refused
// (the error says so): a removed member never comes back, and a change
// proposed again (proposeConfChange) may see its first attempt committed
// after a removal that followed the second. Every member refuses alike,
// from the registry the log builds.
func (s *Server) applyConfChange(cc raftpb.ConfChange) error {
	if cc.Type != raftpb.ConfChangeRemoveNode && s.members.wasRemoved(cc.NodeID) {
		s.log.Warn("refused a membership change for a removed member", "id", fmt.Sprintf("%x", cc.NodeID), "type", cc.Type.String())
		// Raft skips a change of node 0: its configuration stays as it is.
		s.node.ApplyConfChange(raftpb.ConfChange{Type: cc.Type, NodeID: raft.None})
		return apierr.Newf(apierr.RaftInternal, s.store.Index(), "member %x was removed from the cluster", cc.NodeID)
	}
	s.node.ApplyConfChange(cc)
	switch cc.Type {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode, raftpb.ConfChangeUpdateNode:
		m := memberRecord{ID: cc.NodeID}
		if len(cc.Context) > 0 {
			if err := json.Unmarshal(cc.Context, &m); err != nil {
				s.log.Error("conf change with an undecodable member", "id", fmt.Sprintf("%x", cc.NodeID), "err", err)
			}
			m.ID = cc.NodeID
		} else if cc.NodeID == s.id.MemberID {
			m = s.selfRecord()
		}
		old, known := s.members.get(m.ID)
		switch cc.Type {
		case raftpb.ConfChangeUpdateNode:
			m.Learner = old.Learner // an update changes URLs, not roles
		default:
			m.Learner = cc.Type == raftpb.ConfChangeAddLearnerNode
		}
		if known && old.machineName() != m.machineName() {
			s.deleteMachineKey(old.machineName())
		}
		s.members.put(m)
		s.noteRoleChange(old, known, m)
		s.setMachineKey(m)
		s.peerAdded(m)
		s.log.Info("member added", "id", fmt.Sprintf("%x", m.ID), "name", m.Name, "peer_urls", strings.Join(m.PeerURLs, ","), "learner", m.Learner)
	case raftpb.ConfChangeRemoveNode:
		old, ok := s.members.get(cc.NodeID)
		s.members.remove(cc.NodeID)
		if ok {
			s.deleteMachineKey(old.machineName())
		}
		s.peerRemoved(cc.NodeID)
		s.log.Info("member removed", "id", fmt.Sprintf("%x", cc.NodeID), "name", old.Name)
		if cc.NodeID == s.id.MemberID {
			s.stopRemoved("this member was removed from the cluster; stopping")
		}
	}
	return nil
}

func (s *Server) selfRecord() memberRecord {
	return memberRecord{ID: s.id.MemberID, Name: s.id.Name, PeerURLs: s.cfg.PeerURLs, ClientURLs: s.cfg.ClientURLs}
}

func (s *Server) setMachineKey(m memberRecord) {
	if _, err := s.store.Apply(&store.Request{Method: store.MethodPut, Path: machinesDir + "/" + m.machineName(), Val: m.machineValue()}); err != nil {
		s.log.Error("write member key", "name", m.machineName(), "err", err)
	}
}

func (s *Server) deleteMachineKey(name string) {
	// Absent (a member removed twice, or before its key existed) is fine.
	_, _ = s.store.Apply(&store.Request{Method: store.MethodDelete, Path: machinesDir + "/" + name})
}

// Members lists the cluster as of the applied index.
func (s *Server) Members() []httpapi.Member {
	list := s.members.list()
	out := make([]httpapi.Member, 0, len(list))
	for _, m := range list {
		out = append(out, toHTTPMember(m))
	}
	if len(out) == 0 { // before the first conf change applies
		out = append(out, toHTTPMember(s.selfRecord()))
	}
	return out
}
