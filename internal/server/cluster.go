package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/transport"
)

// Send hands Raft's messages to the peer transport (raftnode.Transport).
// Messages sent before the transport exists (during start-up) are
// dropped; Raft resends what matters.
func (s *Server) Send(msgs []raftpb.Message) {
	if tr := s.tr.Load(); tr != nil {
		tr.Send(msgs)
	}
}

// startTransport creates the peer transport once the member's identity is
// known and adds every member known so far.
func (s *Server) startTransport() error {
	tr, err := transport.New(transport.Config{
		ClusterID:   s.id.ClusterID,
		MemberID:    s.id.MemberID,
		Raft:        peerRaft{s},
		Snapshots:   peerSnapshots{s},
		Logger:      s.log,
		TLS:         s.cfg.PeerTLS,
		DialContext: s.cfg.PeerDial,
		Removed:     s.members.wasRemoved,
		OnRemoved:   s.removedByPeers,
	})
	if err != nil {
		return err
	}
	s.tr.Store(tr)
	for _, m := range s.members.list() {
		s.peerAdded(m)
	}
	return nil
}

func (s *Server) peerAdded(m memberRecord) {
	tr := s.tr.Load()
	if tr == nil || m.ID == s.id.MemberID || len(m.PeerURLs) == 0 {
		return
	}
	if err := tr.AddPeer(m.ID, m.PeerURLs); err != nil && !errors.Is(err, transport.ErrStopped) {
		s.log.Error("add peer", "id", fmt.Sprintf("%x", m.ID), "urls", m.PeerURLs, "err", err)
	}
}

// removedByPeers stops a member the others say was removed (while it was
// down or cut off, so it never applied its own removal), as applying the
// removal would have.
func (s *Server) removedByPeers() {
	s.stopRemoved("a peer says this member was removed from the cluster; stopping (to serve again, start it with an empty data dir and -peers, as a new member)")
}

// stopRemoved stops a member that is no longer in the cluster.
func (s *Server) stopRemoved(why string) {
	s.log.Warn(why)
	s.removed.Store(true)
	go s.Stop()
}

func (s *Server) peerRemoved(id uint64) {
	if tr := s.tr.Load(); tr != nil && id != s.id.MemberID {
		tr.RemovePeer(id)
	}
}

// peerRaft is the transport's view of this member's Raft node.
type peerRaft struct{ s *Server }

func (p peerRaft) Process(ctx context.Context, m raftpb.Message) error { return p.s.node.Step(ctx, m) }
func (p peerRaft) ReportUnreachable(id uint64)                         { p.s.node.ReportUnreachable(id) }
func (p peerRaft) ReportSnapshot(id uint64, st raft.SnapshotStatus)    { p.s.node.ReportSnapshot(id, st) }

// peerSnapshots moves snapshot bodies between the transport and snap/.
type peerSnapshots struct{ s *Server }

func (p peerSnapshots) OpenSnapshot(m raftpb.Message) (io.ReadCloser, error) {
	return p.s.node.SnapshotBody(m.Snapshot.Metadata.Index), nil
}

func (p peerSnapshots) SaveSnapshot(_ context.Context, m raftpb.Message, body io.Reader) error {
	return p.s.node.SaveReceivedSnapshot(m, body)
}

// PeerHandler serves Raft traffic and joins on the peer port.
func (s *Server) PeerHandler() http.Handler {
	mux := http.NewServeMux()
	if tr := s.tr.Load(); tr != nil {
		mux.Handle(transport.PathPrefix, tr.Handler())
	}
	mux.HandleFunc("POST "+joinPath, s.serveJoin)
	mux.HandleFunc("POST "+helloPath, s.serveHello)
	mux.HandleFunc("GET "+clusterPath, s.serveClusterID)
	s.adminRoutes(mux)
	return mux
}

// AddMember proposes the joining member req describes and waits until
// the change is applied. The member votes unless the cluster already has
// its activeSize of voters; then it is a learner (etcd 0.4's standby). A
// name that is already a member with the same peer URLs is that member
// trying again after a lost answer (same JoinID), who gets its record
// back; otherwise it is that member started again without its data (a
// wiped or replaced disk): it cannot take its old ID (Raft would count on
// votes and entries it no longer has), so the old member is removed and
// the joiner added as a new one. The same name with other URLs, or a peer
// URL another member has, is refused.
func (s *Server) AddMember(ctx context.Context, req joinRequest) (memberRecord, error) {
	name, peerURLs := req.Name, req.PeerURLs
	if name == "" || len(peerURLs) == 0 {
		return memberRecord{}, apierr.New(apierr.NameRequired, "a member needs a name and a peer URL", s.store.Index())
	}
	var wiped *memberRecord
	for _, m := range s.members.list() {
		if m.Name == "" && slices.Equal(m.PeerURLs, peerURLs) {
			return s.adoptMember(m), nil // added by peer URL, now starting
		}
		if m.Name == name {
			if !slices.Equal(m.PeerURLs, peerURLs) {
				return memberRecord{}, apierr.Newf(apierr.ExistingPeer, s.store.Index(),
					"a member named %q already exists with peer URLs %v", name, m.PeerURLs)
			}
			if req.JoinID != "" && m.JoinID == req.JoinID {
				return m, nil
			}
			wiped = &m
			continue
		}
		for _, u := range peerURLs {
			if slices.Contains(m.PeerURLs, u) {
				return memberRecord{}, apierr.Newf(apierr.ExistingPeer, s.store.Index(),
					"peer URL %s belongs to member %q", u, m.Name)
			}
		}
	}
	if wiped != nil {
		s.log.Warn("a member is joining again without its data; replacing it by a new member", "name", name,
			"old_id", fmt.Sprintf("%x", wiped.ID), "peer_urls", strings.Join(peerURLs, ","))
		if err := s.RemoveMember(ctx, wiped.ID); err != nil {
			return memberRecord{}, err
		}
	}
	rec := memberRecord{ID: s.newMemberID(), Name: name, PeerURLs: peerURLs, ClientURLs: req.ClientURLs,
		Learner: s.clusterIsFull(), JoinID: req.JoinID}
	typ := raftpb.ConfChangeAddNode
	if rec.Learner {
		typ = raftpb.ConfChangeAddLearnerNode
	}
	if err := s.proposeMember(ctx, typ, rec); err != nil {
		return memberRecord{}, err
	}
	if m, ok := s.members.get(rec.ID); ok {
		return m, nil
	}
	return memberRecord{}, apierr.New(apierr.RaftInternal, "membership change was not applied (another change was pending?)", s.store.Index())
}

// RemoveMember proposes removing member id and waits until it is applied.
// The last voter cannot be removed (Raft would be left without a quorum).
func (s *Server) RemoveMember(ctx context.Context, id uint64) error {
	m, ok := s.members.get(id)
	if !ok {
		return apierr.Newf(apierr.KeyNotFound, s.store.Index(), "no member %x", id)
	}
	if !m.Learner && s.voterCount() == 1 {
		return apierr.Newf(apierr.InvalidField, s.store.Index(), "member %q is the cluster's only voter", m.Name)
	}
	gone := func() bool { _, ok := s.members.get(id); return !ok }
	return s.proposeConfChange(ctx, raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode, NodeID: id}, gone)
}

// proposeConfChange proposes cc and waits until the apply loop has applied
// it, or until inEffect reports the change made. Raft takes one membership
// change at a time and silently turns any other proposed meanwhile into an
// empty entry, so callers racing each other (two members removed at once,
// founders publishing their URLs) would wait out the request timeout. An
// attempt not answered within proposeTimeout is therefore tried again,
// after a jittered pause, as a new proposal, until the request timeout.
// The first attempt may still be applied after its retry: every change is
// harmless twice (a removal of a member gone, the same record again), and
// the apply loop refuses to bring back a removed member (applyConfChange).
func (s *Server) proposeConfChange(ctx context.Context, cc raftpb.ConfChange, inEffect func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	for {
		cc.ID = s.nextRequestID()
		err := s.proposeConfChangeOnce(ctx, cc)
		if err == nil || !errors.Is(err, errConfChangeUnanswered) {
			return err
		}
		if inEffect() {
			return nil
		}
		select {
		case <-time.After(s.retryPause()):
			if inEffect() {
				return nil
			}
		case <-ctx.Done():
			return apierr.New(apierr.RaftInternal, "membership change timed out", s.store.Index())
		case <-s.stopc:
			return s.stoppedErr()
		}
	}
}

// errConfChangeUnanswered is an attempt of proposeConfChange that was not
// applied within proposeTimeout, or that Raft dropped (no leader).
var errConfChangeUnanswered = errors.New("membership change not applied yet")

// proposeConfChangeOnce proposes cc and waits until it is applied, for at
// most proposeTimeout.
func (s *Server) proposeConfChangeOnce(ctx context.Context, cc raftpb.ConfChange) error {
	ctx, cancel := context.WithTimeout(ctx, s.proposeTimeout())
	defer cancel()
	ch := s.waits.register(cc.ID)
	if err := s.node.ProposeConfChange(ctx, cc); err != nil {
		s.waits.cancel(cc.ID)
		if ctx.Err() != nil || errors.Is(err, raft.ErrProposalDropped) {
			return errConfChangeUnanswered // or no leader to take it yet
		}
		return apierr.New(apierr.RaftInternal, err.Error(), s.store.Index())
	}
	select {
	case res := <-ch:
		return res.err
	case <-ctx.Done():
		s.waits.cancel(cc.ID)
		return errConfChangeUnanswered
	case <-s.stopc:
		s.waits.cancel(cc.ID)
		return s.stoppedErr()
	}
}
