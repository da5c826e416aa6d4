package raftnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/snap"
	"github.com/arbor-kv/arbor/internal/wal"
)

// ErrStopped is returned by calls made after Stop.
var ErrStopped = errors.New("raftnode: stopped")

// Transport sends Raft messages to other members. Send must not block for
// long: a slow or unreachable peer must not stall the Ready loop.
type Transport interface {
	Send(msgs []raftpb.Message)
}

// Identity names a member for good: it is written into a new WAL and read
// back from it on every restart, so a member keeps its IDs across restarts.
type Identity struct {
	MemberID  uint64 `json:"memberID"`
	ClusterID uint64 `json:"clusterID"`
	Name      string `json:"name"`
}

// Config describes one member's Raft node.
type Config struct {
	// Identity is used when the data dir is new; on restart the one stored
	// in the WAL wins (see Node.Identity).
	Identity Identity
	DataDir  string // holds wal/ and snap/
	// Peers are the voters of a brand-new cluster (including this member);
	// empty when the member joins a running cluster that added it. Ignored
	// when the data dir already holds a WAL.
	Peers []raft.Peer

	TickInterval   time.Duration // one Raft tick, the heartbeat interval
	ElectionTicks  int           // ticks without a leader before a campaign
	HeartbeatTicks int

	Transport  Transport // nil for a single member
	Logger     *slog.Logger
	WALOptions []wal.Option // for the WAL, created or opened
}

// Apply is one batch of committed entries, in log order, or a snapshot
// from the leader that replaces the member's state (then Entries is empty;
// load its body with LoadSnapshot). The receiver must call Done once it is
// applied, so snapshots see applied state.
type Apply struct {
	Entries  []raftpb.Entry
	Snapshot *snap.Meta
	done     chan struct{}
}

// Done reports the batch applied.
func (a Apply) Done() { close(a.done) }

// Node is a running Raft member.
type Node struct {
	cfg Config
	log *slog.Logger
	// raft is the Raft state machine, driven directly (not through
	// raft.Node's goroutine: each hand-off to it was a goroutine switch on
	// the path from one fsync to the next, and under load a switched-to
	// goroutine waits behind the runnable connection handlers). raftMu
	// guards it; it is never held while calling out of this package.
	raftMu sync.Mutex
	raft   *raft.RawNode
	// kick wakes the Ready loop after another goroutine gave Raft work
	// (a proposal, a message); coalesced.
	kick    chan struct{}
	storage *storage
	wal     *wal.WAL
	snapDir string

	// Identity is the member's identity as stored in its WAL.
	Identity Identity
	// Restarted is true when the member started from existing data.
	Restarted bool
	// SnapshotIndex is the index of the snapshot restored at start (0 if
	// none), and SnapshotMembers the membership record saved with it.
	SnapshotIndex   uint64
	SnapshotMembers []byte

	applyc chan Apply
	stopc  chan struct{}
	donec  chan struct{}
	stop   sync.Once

	// Written by the Ready loop, read anywhere.
	term     atomic.Uint64
	lead     atomic.Uint64
	commit   atomic.Uint64
	isLeader atomic.Bool
	leaderc  chan struct{} // signalled (non-blocking) when leadership changes
	// ready is the Ready loop as a Stage: busy while it handles a Ready;
	// started when it takes one (Raft's pending entries and messages left
	// for the WAL).
	ready     *Stage
	recvApp   atomic.Uint64
	sendApp   atomic.Uint64
	leaderSet atomic.Int64 // unix nanos when the current leader was first seen
	// leaderHeard is when a message only a leader sends last arrived (unix
	// nanos): how a member that is not leading knows it is in touch.
	leaderHeard atomic.Int64
	state       atomic.Uint64 // raft.StateType as of the last Ready
	recvRate    rateWindow
	sendRate    rateWindow

	confState atomic.Pointer[raftpb.ConfState]

	reads readIndexer

	// snapc carries durable snapshots from the server to the Ready loop,
	// which alone may touch the WAL.
	snapc chan snap.Meta
	// prevSnap is the index of the snapshot before the newest one: the WAL
	// is kept back to it, so a damaged newest snapshot can still be skipped.
	// Owned by the Ready loop.
	prevSnap uint64
	// cleanups carries each compaction's released WAL segments, in order,
	// from the Ready loop to the janitor goroutine, which deletes them and
	// purges old snapshots; janitorDone is closed when it has finished.
	cleanups    chan wal.Released
	janitorDone chan struct{}
}

// Start opens or creates the member's Raft state under cfg.DataDir. restore
// is called with the body of the newest valid snapshot (possibly more than
// once, if one turns out damaged: it must reset its state each time).
func Start(cfg Config, restore func(io.Reader) error) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.ElectionTicks <= cfg.HeartbeatTicks {
		cfg.ElectionTicks = 10 * cfg.HeartbeatTicks
	}
	n := &Node{
		cfg:         cfg,
		log:         cfg.Logger,
		storage:     &storage{MemoryStorage: raft.NewMemoryStorage(), want: make(chan struct{}, 1)},
		snapDir:     filepath.Join(cfg.DataDir, "snap"),
		applyc:      make(chan Apply, 16),
		stopc:       make(chan struct{}),
		donec:       make(chan struct{}),
		leaderc:     make(chan struct{}, 1),
		ready:       NewStage(),
		kick:        make(chan struct{}, 1),
		snapc:       make(chan snap.Meta, 4),
		cleanups:    make(chan wal.Released, 16),
		janitorDone: make(chan struct{}),
	}
	n.reads.init()
	n.storage.members = n.confState.Load
	walDir := filepath.Join(cfg.DataDir, "wal")
	rc := &raft.Config{
		ElectionTick:    cfg.ElectionTicks,
		HeartbeatTick:   cfg.HeartbeatTicks,
		Storage:         n.storage,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raftLogger{n.log},
	}
	if wal.Exist(walDir) {
		// The WAL is read while the snapshot loads: with a large store
		// each takes a good part of a second, and they use different
		// files. It is read for the newest snapshot's index; in the rare
		// case Load falls back to an older snapshot (or none), again.
		guess := snap.NewestIndex(n.snapDir)
		walc := make(chan walContents, 1)
		go func() { walc <- openWAL(walDir, guess, n.log, cfg.WALOptions) }()
		loadStart := time.Now()
		meta, err := snap.Load(n.snapDir, n.log, func(m snap.Meta, r io.Reader) error { return restore(r) })
		wc := <-walc
		switch {
		case errors.Is(err, snap.ErrNoSnapshot):
		case err != nil:
			wc.close()
			return nil, fmt.Errorf("raftnode: load snapshot: %w", err)
		}
		if meta.Index > 0 {
			n.log.Info("snapshot loaded", "index", meta.Index, "took", time.Since(loadStart))
		}
		if meta.Index != guess {
			n.log.Info("the newest snapshot was unusable: reading the WAL again from the one loaded",
				"newest", guess, "loaded", meta.Index)
			wc.close()
			wc = openWAL(walDir, meta.Index, n.log, cfg.WALOptions)
		}
		w, md, hs, ents, err := wc.w, wc.metadata, wc.hs, wc.ents, wc.err
		if err != nil {
			return nil, fmt.Errorf("raftnode: open wal: %w", err)
		}
		if len(ents) > 0 && ents[0].Index > meta.Index+1 {
			w.Close()
			return nil, fmt.Errorf("raftnode: wal in %s starts at entry %d but the snapshot ends at %d: entries are missing", walDir, ents[0].Index, meta.Index)
		}
		if err := json.Unmarshal(md, &n.Identity); err != nil || n.Identity.MemberID == 0 {
			w.Close()
			return nil, fmt.Errorf("raftnode: wal in %s has no valid member identity (%q)", walDir, md)
		}
		n.wal, n.Restarted, n.SnapshotIndex, n.SnapshotMembers, n.prevSnap = w, true, meta.Index, meta.Members, meta.Index
		if meta.Index > 0 {
			cs := meta.ConfState
			// Data carries the membership record to followers (see storage).
			if err := n.storage.ApplySnapshot(raftpb.Snapshot{Data: meta.Members, Metadata: raftpb.SnapshotMetadata{Index: meta.Index, Term: meta.Term, ConfState: cs}}); err != nil {
				return nil, fmt.Errorf("raftnode: apply snapshot %d: %w", meta.Index, err)
			}
			n.confState.Store(&cs)
		}
		if err := n.storage.SetHardState(hs); err != nil {
			return nil, err
		}
		if err := n.storage.Append(ents); err != nil {
			return nil, err
		}
		n.commit.Store(hs.Commit)
		n.term.Store(hs.Term)
		rc.Applied = meta.Index
		rc.ID = n.Identity.MemberID
		if n.raft, err = raft.NewRawNode(rc); err != nil {
			w.Close()
			return nil, fmt.Errorf("raftnode: %w", err)
		}
		n.log.Info("raft node restarted", "id", fmt.Sprintf("%x", rc.ID), "snapshot_index", meta.Index,
			"wal_entries", len(ents), "commit", hs.Commit, "term", hs.Term, "wal_read_took", wc.took)
	} else {
		if cfg.Identity.MemberID == 0 {
			return nil, errors.New("raftnode: member ID 0")
		}
		md, err := json.Marshal(cfg.Identity)
		if err != nil {
			return nil, err
		}
		w, err := wal.Create(walDir, md, n.log, cfg.WALOptions...)
		if err != nil {
			return nil, fmt.Errorf("raftnode: create wal: %w", err)
		}
		n.wal, n.Identity = w, cfg.Identity
		rc.ID = cfg.Identity.MemberID
		if n.raft, err = raft.NewRawNode(rc); err == nil && len(cfg.Peers) > 0 {
			// A new cluster. Without peers the member joins a running
			// cluster: the leader, which added it, sends it the log or a
			// snapshot.
			err = n.raft.Bootstrap(cfg.Peers)
		}
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("raftnode: %w", err)
		}
		n.log.Info("raft node started", "id", fmt.Sprintf("%x", rc.ID), "peers", len(cfg.Peers))
	}
	n.reads.member = rc.ID
	go n.janitor()
	go n.run()
	return n, nil
}

// walContents is what wal.Open returned, and how long it took.
type walContents struct {
	w        *wal.WAL
	metadata []byte
	hs       raftpb.HardState
	ents     []raftpb.Entry
	err      error
	took     time.Duration
}

func openWAL(dir string, snapIndex uint64, log *slog.Logger, opts []wal.Option) walContents {
	start := time.Now()
	var c walContents
	c.w, c.metadata, c.hs, c.ents, c.err = wal.Open(dir, snapIndex, log, opts...)
	c.took = time.Since(start)
	return c
}

// close releases a WAL opened for a snapshot index that is not used.
func (c walContents) close() {
	if c.w != nil {
		c.w.Close()
	}
}

// Apply delivers committed entries in log order. It is closed after Stop.
func (n *Node) Apply() <-chan Apply { return n.applyc }

// withRaft runs f on the Raft state machine, under its lock; f must not
// call out of this package.
func (n *Node) withRaft(f func(rn *raft.RawNode)) {
	n.raftMu.Lock()
	f(n.raft)
	n.raftMu.Unlock()
}

// wake tells the Ready loop that Raft may have a Ready.
func (n *Node) wake() {
	signal(n.kick)
}

// leaderPoll is how often a proposal made while no leader is known is
// retried. An election takes at least an election timeout, so polling
// costs next to nothing.
const leaderPoll = 5 * time.Millisecond

// Propose submits data to be appended to the log. Success means only that
// the proposal was accepted for replication, not that it was committed.
// While no leader is known it waits for one (or for ctx), as raft.Node did.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	_, err := n.ProposeInTerm(ctx, data)
	return err
}

// ProposeInTerm is Propose, also returning the term Raft was in when it
// took the proposal: appended by the leader of that term, or forwarded to
// it. Unless that leader commits it, only a later leader's log can hold it,
// after that leader's first entry (see Server's leader-change answers).
func (n *Node) ProposeInTerm(ctx context.Context, data []byte) (term uint64, err error) {
	err = n.propose(ctx, func(rn *raft.RawNode) error {
		err := rn.Propose(data)
		term = rn.BasicStatus().Term
		return err
	})
	return term, err
}

func (n *Node) propose(ctx context.Context, f func(rn *raft.RawNode) error) error {
	for {
		select {
		case <-n.donec: // Raft would take it, but nothing would persist it
			return ErrStopped
		default:
		}
		var err error
		leaderless := false
		n.withRaft(func(rn *raft.RawNode) {
			err = f(rn)
			leaderless = errors.Is(err, raft.ErrProposalDropped) && rn.BasicStatus().Lead == raft.None
		})
		if err == nil {
			n.wake()
			return nil
		}
		if !leaderless {
			return err
		}
		select {
		case <-time.After(leaderPoll):
		case <-ctx.Done():
			return ctx.Err()
		case <-n.donec:
			return ErrStopped
		}
	}
}

// ReadyStage is the Ready loop as a Stage: started each time it takes a
// Ready (whatever was proposed before is on its way to the WAL: a proposer
// that waits for it between proposals sends one batch per fsync instead of
// many small ones), busy while it handles the Ready (mostly: waiting for
// the WAL's fsync). A proposer that holds its batch
// while the loop is busy and proposes when it is done puts every write
// that arrived during the fsync into the next entry, instead of proposing
// the first of them at once into an fsync of its own.
func (n *Node) ReadyStage() *Stage { return n.ready }

// ProposeConfChange submits a membership change.
func (n *Node) ProposeConfChange(ctx context.Context, cc raftpb.ConfChange) error {
	return n.propose(ctx, func(rn *raft.RawNode) error { return rn.ProposeConfChange(cc) })
}

// ApplyConfChange applies a committed membership change; called by the
// apply loop for every EntryConfChange, in log order.
func (n *Node) ApplyConfChange(cc raftpb.ConfChange) {
	var cs *raftpb.ConfState
	n.withRaft(func(rn *raft.RawNode) { cs = rn.ApplyConfChange(cc) })
	n.confState.Store(cs)
	n.wake()
}

// Step hands a message from a peer to the Raft state machine.
func (n *Node) Step(ctx context.Context, m raftpb.Message) error {
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		now := time.Now()
		if m.Type == raftpb.MsgApp {
			n.recvApp.Add(1)
			n.recvRate.add(now, m.Size())
		}
		// A deposed leader's messages (an older term) are no contact.
		if m.Term >= n.term.Load() {
			n.leaderHeard.Store(now.UnixNano())
		}
	}
	var err error
	n.withRaft(func(rn *raft.RawNode) { err = rn.Step(m) })
	n.wake()
	if errors.Is(err, raft.ErrStepLocalMsg) || errors.Is(err, raft.ErrStepPeerNotFound) {
		// Not for the network, or an answer from a member no longer in the
		// configuration: dropped, as raft.Node drops them.
		return nil
	}
	return err
}

// Campaign asks this member to start an election (used by a single-voter
// cluster so it need not wait out an election timeout).
func (n *Node) Campaign(ctx context.Context) error {
	var err error
	n.withRaft(func(rn *raft.RawNode) { err = rn.Campaign() })
	n.wake()
	return err
}

// Status is a cheap snapshot of the node's state for headers and stats.
type Status struct {
	ID, Term, Leader, Commit uint64
	IsLeader                 bool
	State                    raft.StateType
	LeaderSince              time.Time // when the current leader was first seen
	// LeaderHeard is when an append, heartbeat or snapshot from a leader
	// last arrived (zero if none has since start).
	LeaderHeard            time.Time
	RecvAppend, SendAppend uint64
}

// Status returns the node's state as of its last Ready.
func (n *Node) Status() Status {
	st := Status{ID: n.Identity.MemberID, Term: n.term.Load(), Leader: n.lead.Load(), Commit: n.commit.Load(),
		IsLeader: n.isLeader.Load(), RecvAppend: n.recvApp.Load(), SendAppend: n.sendApp.Load()}
	if ns := n.leaderSet.Load(); ns != 0 {
		st.LeaderSince = time.Unix(0, ns)
	}
	if ns := n.leaderHeard.Load(); ns != 0 {
		st.LeaderHeard = time.Unix(0, ns)
	}
	st.State = raft.StateType(n.state.Load())
	return st
}

// AppendRates are the rates of appends received and sent over the latest
// ones, as /v2/stats/self shows them; zero once a second passed without any.
func (n *Node) AppendRates() (recv, send Rate) {
	now := time.Now()
	return n.recvRate.rate(now), n.sendRate.rate(now)
}

// SoleVoter reports whether this member is the only voter Raft knows of: it
// then need not wait out an election timeout before leading.
func (n *Node) SoleVoter() bool {
	var st raft.Status
	n.withRaft(func(rn *raft.RawNode) { st = rn.Status() })
	voters := st.Config.Voters.IDs()
	_, self := voters[n.Identity.MemberID]
	return len(voters) == 1 && self
}

// LeaderChanged is signalled whenever the leader or this member's role
// changes. It is a hint: read Status for the facts.
func (n *Node) LeaderChanged() <-chan struct{} { return n.leaderc }

// ConfState is the current voter configuration.
func (n *Node) ConfState() raftpb.ConfState {
	if cs := n.confState.Load(); cs != nil {
		return *cs
	}
	return raftpb.ConfState{}
}

// keepEntries is how many applied entries a single-voter member keeps in
// memory. Nothing reads older ones (there is no follower to catch up), and
// keeping everything back to the last snapshot would hold up to a quarter
// of a snapshot's size in memory.
const keepEntries = 4096

// Applied tells the node that entries up to index are applied, so that a
// single voter can drop older entries from memory (they stay in the WAL).
// With other members, entries are kept back to the last snapshot, since a
// follower may need them. Called by the apply goroutine.
func (n *Node) Applied(index uint64) {
	cs := n.confState.Load()
	if cs == nil || len(cs.Voters) != 1 || cs.Voters[0] != n.Identity.MemberID || len(cs.Learners) > 0 || len(cs.VotersOutgoing) > 0 {
		return
	}
	first, err := n.storage.FirstIndex()
	if err != nil || index < first+2*keepEntries {
		return
	}
	if err := n.storage.Compact(index - keepEntries); err != nil && !errors.Is(err, raft.ErrCompacted) {
		n.log.Warn("raft storage trim", "index", index-keepEntries, "err", err)
	}
}

// Term returns the term of the entry at index, if still in the log.
func (n *Node) Term(index uint64) (uint64, error) { return n.storage.Term(index) }

// SaveSnapshot writes a snapshot of the applied state at index (of the
// given term, see Term; with the conf state and the caller's membership
// record members at that index; whose body write produces) and then compacts the log
// behind it. It runs on the caller's goroutine and may take long; writes go
// on meanwhile.
func (n *Node) SaveSnapshot(index, term uint64, cs raftpb.ConfState, members []byte, write func(io.Writer) error) error {
	meta := snap.Meta{Index: index, Term: term, ConfState: cs, Members: members}
	start := time.Now()
	path, err := snap.Save(n.snapDir, meta, write)
	if err != nil {
		return err
	}
	n.log.Info("snapshot saved", "index", index, "term", term, "file", path, "took", time.Since(start))
	select {
	case n.snapc <- meta:
		return nil
	case <-n.stopc:
		return ErrStopped
	case <-n.donec: // the Ready loop ended by itself (its WAL failed)
		return ErrStopped
	}
}

// Stop stops the node and waits for its goroutines. The Apply channel is
// closed afterwards.
func (n *Node) Stop() {
	n.stop.Do(func() {
		close(n.stopc)
		<-n.donec
		<-n.janitorDone
	})
}

func (n *Node) run() {
	defer close(n.donec)
	defer close(n.cleanups)
	defer close(n.applyc)
	defer n.wal.Close()
	defer n.reads.fail(ErrStopped)

	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	// A read round normally takes one round trip: retry one that has
	// waited four heartbeats, and give up after three election timeouts.
	readRetry := time.Duration(4*n.cfg.HeartbeatTicks) * n.cfg.TickInterval
	readGiveUp := time.Duration(3*n.cfg.ElectionTicks) * n.cfg.TickInterval
	for {
		// Raft has work whenever anything stepped it (here or elsewhere):
		// a pending kick makes the select below take it, while the other
		// cases still get their turn under load.
		var has bool
		n.withRaft(func(rn *raft.RawNode) { has = rn.HasReady() })
		if has {
			n.wake()
		}
		select {
		case <-ticker.C:
			n.withRaft(func(rn *raft.RawNode) { rn.Tick() })
			n.reads.expire(time.Now(), readRetry, readGiveUp)
		case <-n.reads.pending:
			n.reads.send(func(rctx []byte) {
				n.withRaft(func(rn *raft.RawNode) { rn.ReadIndex(rctx) })
			})
		case <-n.kick:
			var rd raft.Ready
			n.withRaft(func(rn *raft.RawNode) {
				if has = rn.HasReady(); has {
					rd = rn.Ready()
				}
			})
			if !has {
				continue
			}
			n.ready.Start()
			if err := n.handleReady(rd); err != nil {
				// The WAL could not be written: continuing would acknowledge
				// writes that are not durable.
				n.log.Error("raft ready failed; stopping the member", "err", err)
				return
			}
			n.ready.Finish()
		case m := <-n.snapc:
			n.compact(m)
		case <-n.stopc:
			return
		}
	}
}

func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		n.noteSoftState(rd.SoftState)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		n.term.Store(rd.HardState.Term)
		n.commit.Store(rd.HardState.Commit)
	}
	// A snapshot from the leader replaces the state the committed entries
	// below build on, so it is applied first.
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.applySnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	// Committed entries are already on stable storage (Raft hands them out
	// only after an earlier Ready persisted them), so the apply loop can
	// work on them while this Ready's new entries are being fsynced.
	var applied chan struct{}
	if len(rd.CommittedEntries) > 0 {
		a := Apply{Entries: rd.CommittedEntries, done: make(chan struct{})}
		select {
		case n.applyc <- a:
		case <-n.stopc:
			return nil
		}
		if hasConfChange(rd.CommittedEntries) {
			applied = a.done
		}
	}
	// A leader sends its appends while it writes the same entries to its
	// own WAL (Raft thesis §10.2.1): the followers' fsyncs overlap with its
	// own. Its term and vote cannot be changing while it leads, and a
	// follower's answers must wait for its own WAL, so only a leader does.
	early := n.isLeader.Load() && (rd.SoftState == nil || rd.SoftState.RaftState == raft.StateLeader)
	if early {
		n.send(rd.Messages)
	}
	if err := n.wal.Save(rd.HardState, rd.Entries); err != nil {
		return err
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return err
	}
	if !early {
		n.send(rd.Messages)
	}
	for _, rs := range rd.ReadStates {
		n.reads.answer(rs)
	}
	// A membership change must be applied before Raft hands out more work,
	// so the next Ready already reflects the new configuration.
	if applied != nil {
		select {
		case <-applied:
		case <-n.stopc:
			return nil
		}
	}
	n.withRaft(func(rn *raft.RawNode) { rn.Advance(rd) })
	if applied != nil && !n.isLeader.Load() && n.SoleVoter() {
		// The membership change just applied left this member the only
		// voter (a new cluster's bootstrap, a restart replaying it, the
		// others removed): no one else can elect it, so it need not wait
		// out an election timeout. Raft refuses a campaign while a conf
		// change is still unapplied, which is why it waits until here.
		if err := n.Campaign(context.Background()); err != nil {
			n.log.Warn("campaign", "err", err)
		}
	}
	return nil
}

func (n *Node) send(msgs []raftpb.Message) {
	if n.cfg.Transport == nil || len(msgs) == 0 {
		return
	}
	now := time.Now()
	for _, m := range msgs {
		if m.Type == raftpb.MsgApp {
			n.sendApp.Add(1)
			n.sendRate.add(now, m.Size())
		}
	}
	n.cfg.Transport.Send(msgs)
}

func (n *Node) noteSoftState(ss *raft.SoftState) {
	if ss.Lead != n.lead.Load() {
		if ss.Lead == raft.None {
			n.leaderSet.Store(0)
		} else {
			n.leaderSet.Store(time.Now().UnixNano())
		}
	}
	n.lead.Store(ss.Lead)
	n.isLeader.Store(ss.RaftState == raft.StateLeader)
	n.state.Store(uint64(ss.RaftState))
	n.log.Info("raft state", "state", ss.RaftState.String(), "leader", fmt.Sprintf("%x", ss.Lead), "term", n.term.Load())
	signal(n.leaderc)
}

// compact records a durable snapshot and drops the log behind it. The WAL
// keeps everything after the previous snapshot, so that snapshot remains a
// usable fallback if the newest file is later found damaged.
func (n *Node) compact(m snap.Meta) {
	if err := n.wal.SaveSnapshot(m.Index, m.Term); err != nil {
		n.log.Error("wal: record snapshot", "index", m.Index, "err", err)
		return
	}
	n.recordSnapshot(m)
	if err := n.storage.Compact(m.Index); err != nil && !errors.Is(err, raft.ErrCompacted) {
		n.log.Error("raft storage compact", "index", m.Index, "err", err)
	}
	var released wal.Released
	if n.prevSnap > 0 {
		r, err := n.wal.Release(n.prevSnap)
		if err != nil {
			n.log.Error("wal: release segments", "index", n.prevSnap, "err", err)
		}
		released = r
	}
	n.prevSnap = m.Index
	// In order, through the janitor alone: segments must go oldest first.
	// A janitor this far behind holds the loop back rather than reorder.
	// Queued first if there is room: a stop right after a snapshot (as at
	// a clean stop) must not leave its cleanup to chance.
	select {
	case n.cleanups <- released:
		return
	default:
	}
	select {
	case n.cleanups <- released:
	case <-n.stopc:
		// Left on disk: the next start finds them and releases them again.
	}
}

// janitor deletes files the Ready loop no longer needs, off that loop:
// unlinking a 64 MiB segment or the snapshot of a large store took the file
// system up to a few hundred milliseconds, and every write waited for it.
// After a segment that could not be deleted it keeps the later ones too:
// deleting them would leave a gap in the log, which Open refuses. A
// restart finds them all and releases them again.
func (n *Node) janitor() {
	defer close(n.janitorDone)
	keepSegments := false
	for r := range n.cleanups {
		if !keepSegments {
			if err := r.Remove(); err != nil {
				keepSegments = true
				n.log.Error("wal: release segments; keeping every segment until a restart", "err", err)
			}
		}
		if err := snap.Purge(n.snapDir, 2); err != nil {
			n.log.Warn("snap: purge", "err", err)
		}
	}
}

func hasConfChange(ents []raftpb.Entry) bool {
	for _, e := range ents {
		if e.Type == raftpb.EntryConfChange || e.Type == raftpb.EntryConfChangeV2 {
			return true
		}
	}
	return false
}

// raftLogger routes the raft library's logging into slog.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...))
}
func (r raftLogger) Fatal(v ...any) { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any) {
	r.l.Error(fmt.Sprintf(format, v...))
	panic(fmt.Sprintf(format, v...))
}
func (r raftLogger) Panic(v ...any) { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any) {
	panic(fmt.Sprintf(format, v...))
}
