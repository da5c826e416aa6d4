package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/httpapi"
)

// MemberAdd is etcd's POST /v2/members: a member known only by its peer
// URLs, without a name until it starts (with -peers) and joins as it. It
// votes unless the cluster already has its active size of voters.
func (s *Server) MemberAdd(ctx context.Context, peerURLs []string) (httpapi.Member, error) {
	if err := s.checkPeerURLsFree(0, peerURLs); err != nil {
		return httpapi.Member{}, err
	}
	rec := memberRecord{ID: s.newMemberID(), PeerURLs: peerURLs, Learner: s.clusterIsFull()}
	typ := raftpb.ConfChangeAddNode
	if rec.Learner {
		typ = raftpb.ConfChangeAddLearnerNode
	}
	if err := s.proposeMember(ctx, typ, rec); err != nil {
		return httpapi.Member{}, err
	}
	m, ok := s.members.get(rec.ID)
	if !ok {
		return httpapi.Member{}, apierr.New(apierr.RaftInternal, "membership change was not applied (another change was pending?)", s.store.Index())
	}
	return toHTTPMember(m), nil
}

// MemberRemove is etcd's DELETE /v2/members/<id>.
func (s *Server) MemberRemove(ctx context.Context, id uint64) error {
	if _, ok := s.members.get(id); !ok {
		return fmt.Errorf("member %x: %w", id, httpapi.ErrMemberNotFound)
	}
	return s.RemoveMember(ctx, id)
}

// MemberUpdate is etcd's PUT /v2/members/<id>: new peer URLs.
func (s *Server) MemberUpdate(ctx context.Context, id uint64, peerURLs []string) error {
	m, ok := s.members.get(id)
	if !ok {
		return fmt.Errorf("member %x: %w", id, httpapi.ErrMemberNotFound)
	}
	if err := s.checkPeerURLsFree(id, peerURLs); err != nil {
		return err
	}
	m.PeerURLs = peerURLs
	return s.proposeMember(ctx, raftpb.ConfChangeUpdateNode, m)
}

// adoptMember answers the join of a member added by peer URL: it is that
// member. Its name and client URLs are not proposed here: with the new
// member counted as a voter, the cluster may have no quorum until it runs;
// it publishes them itself once it serves (publishSelf).
func (s *Server) adoptMember(m memberRecord) memberRecord {
	s.log.Info("member added by peer URL is starting", "id", fmt.Sprintf("%x", m.ID), "peer_urls", m.PeerURLs)
	return m
}

// checkPeerURLsFree fails when a member other than id has one of urls.
func (s *Server) checkPeerURLsFree(id uint64, urls []string) error {
	for _, m := range s.members.list() {
		if m.ID == id {
			continue
		}
		for _, u := range urls {
			if slices.Contains(m.PeerURLs, u) {
				return fmt.Errorf("%s belongs to member %x: %w", u, m.ID, httpapi.ErrPeerURLExists)
			}
		}
	}
	return nil
}

// newMemberID picks an ID no member has.
func (s *Server) newMemberID() uint64 {
	for {
		id := randomID()
		if _, taken := s.members.get(id); !taken {
			return id
		}
	}
}

// proposeMember proposes a conf change of type typ carrying rec and waits
// until it is in effect: an update, once the registry has rec's name and
// URLs; an addition, promotion or demotion, once it has the member in
// rec's role (whatever name and URLs the member has published since: an
// attempt made again must not take them back).
func (s *Server) proposeMember(ctx context.Context, typ raftpb.ConfChangeType, rec memberRecord) error {
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	inEffect := func() bool {
		have, ok := s.members.get(rec.ID)
		if typ == raftpb.ConfChangeUpdateNode {
			return ok && have.sameAddresses(rec)
		}
		return ok && have.Learner == rec.Learner
	}
	return s.proposeConfChange(ctx, raftpb.ConfChange{Type: typ, NodeID: rec.ID, Context: body}, inEffect)
}

func toHTTPMember(m memberRecord) httpapi.Member {
	return httpapi.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs}
}
