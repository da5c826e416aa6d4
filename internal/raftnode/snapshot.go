package raftnode

import (
	"context"
	"fmt"
	"io"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/snap"
)

// storage is Raft's in-memory log with snapshots made on demand (a
// snapshot's Data is its membership record, snap.Meta.Members; the body
// travels out of band, see SnapshotBody): when Raft
// wants to send a follower a snapshot but the newest one the log knows of
// is older than the log's start (a single voter trims its log past its
// snapshots, see Applied), it answers "temporarily unavailable" and asks the
// member for a fresh snapshot; Raft retries on a later heartbeat.
//
// The same goes for a snapshot taken before a member joined: its conf state
// does not name the new member, and Raft on that member refuses it ("not
// in the ConfState"), so Raft would resend it forever.
type storage struct {
	*raft.MemoryStorage
	want chan struct{} // signalled (non-blocking) when a snapshot is needed
	// members is the current configuration (the node's confState).
	members func() *raftpb.ConfState
}

func (s *storage) Snapshot() (raftpb.Snapshot, error) {
	sn, err := s.MemoryStorage.Snapshot()
	if err != nil {
		return sn, err
	}
	first, err := s.MemoryStorage.FirstIndex()
	if err != nil {
		return sn, err
	}
	if sn.Metadata.Index == 0 || sn.Metadata.Index+1 < first || !names(&sn.Metadata.ConfState, s.members()) {
		select {
		case s.want <- struct{}{}:
		default:
		}
		return raftpb.Snapshot{}, raft.ErrSnapshotTemporarilyUnavailable
	}
	return sn, nil
}

// names reports whether snapshot's configuration includes every member
// of current (nil: not known yet, nothing to check).
func names(snapshot, current *raftpb.ConfState) bool {
	if current == nil {
		return true
	}
	in := func(id uint64) bool {
		return slices.Contains(snapshot.Voters, id) || slices.Contains(snapshot.Learners, id) ||
			slices.Contains(snapshot.VotersOutgoing, id) || slices.Contains(snapshot.LearnersNext, id)
	}
	for _, ids := range [][]uint64{current.Voters, current.Learners, current.VotersOutgoing, current.LearnersNext} {
		for _, id := range ids {
			if !in(id) {
				return false
			}
		}
	}
	return true
}

// SnapshotWanted is signalled when a follower needs a snapshot newer than
// any this member has: the member should take one now rather than wait for
// its snapshot count.
func (n *Node) SnapshotWanted() <-chan struct{} { return n.storage.want }

// recordSnapshot lets Raft send the durable snapshot m to followers. The
// log may already be trimmed past it (a single voter, see Applied); then
// Raft's storage cannot take it and the next one made on demand is used.
func (n *Node) recordSnapshot(m snap.Meta) {
	first, err := n.storage.FirstIndex()
	if err != nil || m.Index+1 < first {
		return
	}
	cs := m.ConfState
	if _, err := n.storage.CreateSnapshot(m.Index, &cs, m.Members); err != nil && err != raft.ErrSnapOutOfDate {
		n.log.Warn("raft storage: record snapshot", "index", m.Index, "err", err)
	}
}

// SnapshotBody streams the body of this member's durable snapshot at index
// to a follower. The file's CRC is checked as it is read; if it fails, the
// reader returns an error instead of io.EOF, so a transfer of a damaged
// snapshot never completes.
func (n *Node) SnapshotBody(index uint64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		_, err := snap.LoadIndex(n.snapDir, index, func(_ snap.Meta, r io.Reader) error {
			_, err := io.Copy(pw, r)
			return err
		})
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	return pr
}

// SaveReceivedSnapshot stores the snapshot a leader sent (m is its MsgSnap,
// body the snapshot's body) durably; the caller then steps m into Raft, and
// the Ready loop applies the snapshot once Raft accepts it (see
// applySnapshot). A snapshot Raft rejects stays on disk until purged.
func (n *Node) SaveReceivedSnapshot(m raftpb.Message, body io.Reader) error {
	if m.Type != raftpb.MsgSnap || m.Snapshot == nil {
		return fmt.Errorf("raftnode: receive snapshot: message of type %s", m.Type)
	}
	md := m.Snapshot.Metadata
	meta := snap.Meta{Index: md.Index, Term: md.Term, ConfState: md.ConfState, Members: m.Snapshot.Data}
	if _, err := snap.Save(n.snapDir, meta, func(w io.Writer) error {
		_, err := io.Copy(w, body)
		return err
	}); err != nil {
		return fmt.Errorf("raftnode: receive snapshot %d: %w", md.Index, err)
	}
	n.log.Info("snapshot received", "index", md.Index, "term", md.Term, "from", fmt.Sprintf("%x", m.From))
	return nil
}

// ReceiveSnapshot is SaveReceivedSnapshot, then Step.
func (n *Node) ReceiveSnapshot(ctx context.Context, m raftpb.Message, body io.Reader) error {
	if err := n.SaveReceivedSnapshot(m, body); err != nil {
		return err
	}
	return n.Step(ctx, m)
}

// LoadSnapshot streams the body of the durable snapshot at index to
// restore: the apply loop calls it for an Apply that carries a snapshot.
func (n *Node) LoadSnapshot(index uint64, restore func(io.Reader) error) error {
	_, err := snap.LoadIndex(n.snapDir, index, func(_ snap.Meta, r io.Reader) error { return restore(r) })
	return err
}

// applySnapshot makes a snapshot Raft accepted from the leader this
// member's state: recorded in the WAL (whose older entries it replaces),
// installed in Raft's storage, and handed to the apply loop, which replaces
// the store with it. The Ready loop waits for that before going on, so
// entries after the snapshot apply on top of it.
func (n *Node) applySnapshot(sn raftpb.Snapshot) error {
	md := sn.Metadata
	if err := n.wal.SaveSnapshot(md.Index, md.Term); err != nil {
		return err
	}
	if err := n.storage.ApplySnapshot(sn); err != nil {
		return fmt.Errorf("raftnode: apply snapshot %d: %w", md.Index, err)
	}
	cs := md.ConfState
	n.confState.Store(&cs)
	n.commit.Store(max(n.commit.Load(), md.Index))
	meta := snap.Meta{Index: md.Index, Term: md.Term, ConfState: cs, Members: sn.Data}
	a := Apply{Snapshot: &meta, done: make(chan struct{})}
	select {
	case n.applyc <- a:
	case <-n.stopc:
		return ErrStopped
	}
	select {
	case <-a.done:
	case <-n.stopc:
		return ErrStopped
	}
	return nil
}

// ReportSnapshot tells Raft how sending a snapshot to member id ended.
func (n *Node) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	n.withRaft(func(rn *raft.RawNode) { rn.ReportSnapshot(id, status) })
	n.wake()
}

// ReportUnreachable tells Raft that the last message to member id was lost.
func (n *Node) ReportUnreachable(id uint64) {
	n.withRaft(func(rn *raft.RawNode) { rn.ReportUnreachable(id) })
	n.wake()
}
