package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/httpapi"
	"github.com/arbor-kv/arbor/internal/raftnode"
	"github.com/arbor-kv/arbor/internal/store"
	"github.com/arbor-kv/arbor/internal/transport"
	"github.com/arbor-kv/arbor/internal/wal"
)

// Config describes a member.
type Config struct {
	Name       string
	DataDir    string
	ClientURLs []string
	PeerURLs   []string

	// SnapshotCount is how many log entries are applied between snapshots.
	SnapshotCount uint64
	// SnapshotLogBytes makes a snapshot due after fewer entries than
	// SnapshotCount once they hold this many bytes (default 64 MiB): the
	// entries since the last snapshot stay in memory for Raft, and 10,000
	// of 1 MB each would be 10 GB.
	SnapshotLogBytes int64
	// NoSnapshots keeps the whole log (-snapshot=false): no snapshot is
	// taken, whatever SnapshotCount and SnapshotLogBytes say, but the one
	// a joining member needs (the leader kept no log that old).
	NoSnapshots bool
	// SnapshotAtStop makes Stop first snapshot what was applied since the
	// last snapshot (when that log is at least an eighth of the snapshot),
	// so that a restart after a clean stop loads the snapshot instead of
	// replaying the log. cmd/arbor sets it.
	SnapshotAtStop bool
	HistorySize    int
	// HistoryBytes bounds the history's keys and values (0: no bound).
	HistoryBytes int64
	MaxWatchers  int

	TickInterval  time.Duration // Raft heartbeat
	ElectionTicks int           // election timeout in ticks
	// RequestTimeout bounds how long a write waits to be applied.
	RequestTimeout time.Duration
	// SyncInterval is how often the leader proposes its time while keys
	// with a TTL exist (etcd: 500 ms).
	SyncInterval time.Duration
	// StrictReads makes every read linearizable.
	StrictReads bool
	// WALHeldSync makes the WAL's syncs keep their P (wal.HoldSyncs).
	WALHeldSync bool

	// Join lists peer URLs of running members. A member whose data dir is
	// new asks them to add it and joins their cluster; otherwise it starts
	// a new cluster of its own. Ignored (with a log line) when the data
	// dir already belongs to a cluster.
	Join []string
	// Founders, for a new data dir, starts a new cluster whose voters are
	// exactly these members, this one (MemberID) included. Every founder
	// must pass the same list (discovery hands it out): the cluster ID and
	// Raft's first entries are derived from it. Client URLs are not part of
	// it; each member publishes its own once it runs.
	Founders []Founder
	MemberID uint64
	// JoinTimeout bounds the attempts to join (default one minute).
	JoinTimeout time.Duration
	// Cluster is the cluster-wide configuration (etcd 0.4's -cluster-*
	// flags; zero fields take etcd 0.4's defaults). The first leader of a
	// new cluster stores it in the log; from then on the stored one rules
	// and the admin API changes it (see admin.go).
	Cluster ClusterConfig
	// PeerTLS is the client TLS configuration for https peer URLs.
	PeerTLS *tls.Config
	// PeerDial, if set, opens connections to peers (tests inject faults).
	PeerDial func(ctx context.Context, network, addr string) (net.Conn, error)

	Logger *slog.Logger
	Clock  func() time.Time
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = 10000
	}
	if c.SnapshotLogBytes == 0 {
		c.SnapshotLogBytes = 64 << 20
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5*time.Second + 2*time.Duration(c.ElectionTicks)*c.TickInterval
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = time.Minute
	}
}

// Server is a running member. It implements httpapi.Backend.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	node  *raftnode.Node
	id    raftnode.Identity
	start time.Time

	waits   *waitRegistry
	applied *appliedWait
	// appliedIndex is the Raft index of the last applied entry.
	// Invariant: appliedIndex <= node commit index.
	appliedIndex atomic.Uint64
	// readyc is closed once the member has applied everything the leader
	// had committed when this member started (learned through ReadIndex):
	// local reads wait for it, so a restart never serves older state than
	// the cluster had already acknowledged.
	readyc chan struct{}

	proposec chan *store.Request
	idSeq    atomic.Uint64

	members *membership
	tr      atomic.Pointer[transport.Transport] // set once at start
	// applying is the apply loop's state, which the proposer waits on.
	applying *raftnode.Stage
	removed  atomic.Bool // this member was removed from the cluster
	// cutOff ends watches while the member is cut off from the leader
	// (leadercontact.go).
	cutOff cutOff

	snapshotting atomic.Bool
	lastSnap     uint64 // owned by the apply goroutine
	// logBytes counts entry bytes applied since lastSnap; lastSnapSize is
	// the size of the newest snapshot (0 before the first one). Both are
	// owned by the apply goroutine.
	logBytes     int64
	lastSnapSize atomic.Int64
	// snapWritten is closed when the newest snapshot started is written
	// (nil before the first); apply goroutine.
	snapWritten chan struct{}
	// snapAtStop carries Stop's request for a snapshot to the apply
	// goroutine, which answers what to wait for; applyDone is closed when
	// the apply goroutine returns.
	snapAtStop chan chan (<-chan struct{})
	applyDone  chan struct{}
	// appliedTerm is the term of the last entry applied (apply goroutine).
	appliedTerm uint64

	lock  *os.File // held for the member's lifetime
	stopc chan struct{}
	wg    sync.WaitGroup
	stop  sync.Once
}

var _ httpapi.Backend = (*Server)(nil)

// Start opens (or creates) the member's data and starts serving.
func Start(cfg Config) (*Server, error) {
	cfg.setDefaults()
	s := &Server{
		applying: raftnode.NewStage(),
		cfg:      cfg,
		log:      cfg.Logger,
		store:    store.New(store.Config{HistorySize: cfg.HistorySize, HistoryBytes: cfg.HistoryBytes, MaxWatchers: cfg.MaxWatchers}),
		start:    cfg.Clock(),
		waits:    newWaitRegistry(),
		members:  newMembership(),
		applied:  newAppliedWait(),
		proposec: make(chan *store.Request, 4096),
		stopc:    make(chan struct{}),
		readyc:   make(chan struct{}),

		snapAtStop: make(chan chan (<-chan struct{})),
		applyDone:  make(chan struct{}),
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	id, peers, err := s.identity()
	if err != nil {
		lock.Close()
		return nil, err
	}
	node, err := raftnode.Start(raftnode.Config{
		Identity:      id,
		DataDir:       cfg.DataDir,
		Peers:         peers,
		TickInterval:  cfg.TickInterval,
		ElectionTicks: cfg.ElectionTicks,
		Transport:     s,
		Logger:        cfg.Logger,
		WALOptions:    []wal.Option{wal.HoldSyncs(cfg.WALHeldSync)},
	}, func(r io.Reader) error {
		cr := &countingReader{r: r}
		err := s.store.Restore(cr)
		s.lastSnapSize.Store(cr.n)
		return err
	})
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.node, s.id = node, node.Identity
	if node.Restarted && len(cfg.Join) > 0 {
		if err := s.checkSameCluster(); err != nil {
			node.Stop()
			lock.Close()
			return nil, err
		}
	}
	if node.Identity.Name != cfg.Name {
		s.log.Warn("data dir belongs to another member name; keeping the stored one",
			"stored", node.Identity.Name, "given", cfg.Name)
	}
	// A joiner already knows the members from its join; a restarted
	// member learns them from its snapshot, then from the log's changes.
	if err := s.restoreMembers(node); err != nil {
		node.Stop()
		lock.Close()
		return nil, err
	}
	if err := s.startTransport(); err != nil {
		node.Stop()
		lock.Close()
		return nil, err
	}
	s.lastSnap = node.SnapshotIndex
	s.appliedIndex.Store(node.SnapshotIndex)
	s.applied.advance(node.SnapshotIndex)
	role, why := s.startRole(node.Restarted)
	s.log.Info("member starting", "name", s.id.Name, "id", fmt.Sprintf("%x", s.id.MemberID),
		"cluster", fmt.Sprintf("%x", s.id.ClusterID), "role", role, "why", why, "data_dir", cfg.DataDir,
		"restarted", node.Restarted)

	s.wg.Add(7)
	go s.publishSelf(node.Restarted)
	go s.selfHealLoop()
	go s.applyLoop()
	go s.proposeLoop()
	go s.clockLoop()
	go s.catchUp()
	go s.expireLoop()
	s.wg.Add(1)
	go s.monitorLeaderContact()
	// A single voter need not wait out an election timeout. (Before its
	// first conf changes apply, Raft would refuse: raftnode campaigns then.)
	if node.Restarted && node.SoleVoter() {
		if err := node.Campaign(context.Background()); err != nil {
			s.log.Warn("campaign", "err", err)
		}
	}
	s.seedAtBootstrap(node.Restarted)
	return s, nil
}

func (s *Server) restoreMembers(node *raftnode.Node) error {
	if node.SnapshotIndex == 0 {
		return nil
	}
	return s.members.restore(node.SnapshotMembers)
}

// identity decides who this member is: the one its WAL records; else, with
// Join, the one a running member assigns when it adds this one; else a new
// member of a new cluster. peers are the voters to bootstrap with (none
// when joining or restarting).
func (s *Server) identity() (raftnode.Identity, []raft.Peer, error) {
	cfg := s.cfg
	if HasData(cfg.DataDir) {
		if len(cfg.Join) > 0 || len(cfg.Founders) > 0 {
			s.log.Info("data dir already belongs to a cluster; not joining again (the peers are greeted only if this member's peer URLs changed)", "peers", strings.Join(cfg.Join, ","))
		}
		return raftnode.Identity{MemberID: randomID(), ClusterID: randomID(), Name: cfg.Name}, nil, nil
	}
	if len(cfg.Join) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.JoinTimeout)
		defer cancel()
		client := peerClient(cfg.PeerTLS, cfg.PeerDial, 0)
		defer client.CloseIdleConnections()
		self := joinRequest{Name: cfg.Name, PeerURLs: cfg.PeerURLs, ClientURLs: cfg.ClientURLs, JoinID: strconv.FormatUint(randomID(), 16)}
		j, err := join(ctx, client, cfg.Join, self, cfg.TickInterval*5)
		if err != nil {
			return raftnode.Identity{}, nil, err
		}
		for _, m := range j.members {
			s.members.put(m)
		}
		s.log.Info("joined cluster", "cluster", fmt.Sprintf("%x", j.clusterID), "id", fmt.Sprintf("%x", j.memberID), "members", len(j.members))
		return raftnode.Identity{MemberID: j.memberID, ClusterID: j.clusterID, Name: cfg.Name}, nil, nil
	}
	if len(cfg.Founders) > 0 {
		return foundingIdentity(cfg)
	}
	id := raftnode.Identity{MemberID: randomID(), ClusterID: randomID(), Name: cfg.Name}
	self, err := json.Marshal(memberRecord{ID: id.MemberID, Name: cfg.Name, PeerURLs: cfg.PeerURLs, ClientURLs: cfg.ClientURLs})
	if err != nil {
		return raftnode.Identity{}, nil, err
	}
	return id, []raft.Peer{{ID: id.MemberID, Context: self}}, nil
}

// Founder is one founding member of a cluster formed by several at once.
type Founder struct {
	ID       uint64
	Name     string
	PeerURLs []string
}

// foundingIdentity derives what every founder must agree on from the
// founders alone: the cluster ID (a hash of their IDs) and Raft's
// bootstrap entries, whose contexts hold no client URLs (only this member
// knows its own).
func foundingIdentity(cfg Config) (raftnode.Identity, []raft.Peer, error) {
	founders := slices.Clone(cfg.Founders)
	slices.SortFunc(founders, func(a, b Founder) int { return cmpUint(a.ID, b.ID) })
	h := fnv.New64a()
	var peers []raft.Peer
	self := false
	for _, f := range founders {
		if f.ID == 0 {
			return raftnode.Identity{}, nil, fmt.Errorf("founder %q has no member ID", f.Name)
		}
		self = self || f.ID == cfg.MemberID
		binary.Write(h, binary.BigEndian, f.ID)
		ctx, err := json.Marshal(memberRecord{ID: f.ID, Name: f.Name, PeerURLs: f.PeerURLs})
		if err != nil {
			return raftnode.Identity{}, nil, err
		}
		peers = append(peers, raft.Peer{ID: f.ID, Context: ctx})
	}
	if !self {
		return raftnode.Identity{}, nil, fmt.Errorf("member %x is not among the founders", cfg.MemberID)
	}
	cid := h.Sum64()
	if cid == 0 {
		cid = 1
	}
	return raftnode.Identity{MemberID: cfg.MemberID, ClusterID: cid, Name: cfg.Name}, peers, nil
}

// HasData reports whether dataDir already holds a member's log: such a
// member restarts as itself and never joins or founds anything.
func HasData(dataDir string) bool { return wal.Exist(filepath.Join(dataDir, "wal")) }

// publishSelf makes the member's record in the cluster match this run's
// URLs (founders start without client URLs; a restart may change them):
// once reads are served, it proposes an update of its own record until
// the registry shows it. A member restarted with new peer URLs first
// greets the others until it is in touch with a leader (moveSelf).
func (s *Server) publishSelf(restarted bool) {
	defer s.wg.Done()
	if restarted {
		s.moveSelf()
	}
	select {
	case <-s.readyc:
	case <-s.stopc:
		return
	}
	for {
		want := s.selfRecord()
		have, ok := s.members.get(want.ID)
		want.Learner = have.Learner
		if !ok || have.sameAddresses(want) {
			return // not a member (being removed), or already published
		}
		// proposeMember tries again while founders publishing together
		// collide; this loop goes on past its request timeout (no leader
		// for a while, say).
		err := s.proposeMember(context.Background(), raftpb.ConfChangeUpdateNode, want)
		if err == nil {
			s.log.Info("published this member's URLs", "peer_urls", strings.Join(want.PeerURLs, ","), "client_urls", strings.Join(want.ClientURLs, ","))
			continue
		}
		s.log.Info("publish this member's URLs; trying again", "err", err)
		select {
		case <-time.After(s.retryPause()):
		case <-s.stopc:
			return
		}
	}
}

// retryPause is how long to wait before proposing a membership change
// again: jittered, so that members retrying together do not collide again.
func (s *Server) retryPause() time.Duration {
	return s.cfg.TickInterval * time.Duration(5+mrand.IntN(10))
}

// catchUp opens local reads once the member has applied the leader's
// commit index as of some moment after start.
func (s *Server) catchUp() {
	defer s.wg.Done()
	began := time.Now()
	for {
		// Raft drops a read-index request while there is no leader.
		for s.node.Status().Leader == raft.None {
			select {
			case <-s.stopc:
				return
			case <-time.After(s.cfg.TickInterval):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		idx, err := s.node.ReadIndex(ctx)
		cancel()
		if err == nil {
			select {
			case <-s.applied.wait(idx):
				close(s.readyc)
				s.log.Info("caught up; serving reads", "applied", idx, "took", time.Since(began))
			case <-s.stopc:
			}
			return
		}
		select {
		case <-s.stopc:
			return
		case <-time.After(s.cfg.TickInterval):
		}
	}
}

// Stop stops the member and waits for its goroutines. In-flight writes fail.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.cfg.SnapshotAtStop && !s.removed.Load() {
			s.snapshotBeforeStop()
		}
		close(s.stopc)
		s.node.Stop()
		if tr := s.tr.Load(); tr != nil {
			tr.Stop()
		}
		s.wg.Wait()
		s.lock.Close()
	})
}

// Done is closed once the member stops, whether asked to (Stop) or by
// itself (removed from the cluster, or its log failed).
func (s *Server) Done() <-chan struct{} { return s.stopc }

// Removed reports whether the member stopped because it was removed from
// the cluster.
func (s *Server) Removed() bool { return s.removed.Load() }

// ID is this member's ID.
func (s *Server) ID() uint64 { return s.id.MemberID }

// Store exposes the member's store for read-only inspection in tests.
func (s *Server) Store() *store.Store { return s.store }

func randomID() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("server: crypto/rand failed: %v", err))
		}
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// nextRequestID numbers this member's proposals. Every member applies
// every entry and answers the IDs its own waiters hold, so IDs must not
// repeat across members or restarts: each process counts up from a random
// 64-bit start (two members' ranges overlap with odds of about 1 in 10^10).
// 0 means "no waiter" and is skipped.
func (s *Server) nextRequestID() uint64 {
	if s.idSeq.Load() == 0 {
		s.idSeq.CompareAndSwap(0, randomID())
	}
	id := s.idSeq.Add(1)
	if id == 0 {
		id = s.idSeq.Add(1)
	}
	return id
}

// Write proposes r and waits for the store's result. A write not applied
// within RequestTimeout fails with a timeout (the sweeper in expireLoop
// answers it; a timer per write was a measurable cost).
func (s *Server) Write(ctx context.Context, r *store.Request) (*store.Event, error) {
	r.ID = s.nextRequestID()
	proposalsTotal.Inc()
	ch := s.waits.register(r.ID)
	select {
	case s.proposec <- r:
	case res := <-ch: // timed out before the proposer took it
		proposalsFailed.Inc()
		return res.ev, res.err
	case <-ctx.Done():
		s.waits.cancel(r.ID)
		return nil, ctx.Err()
	case <-s.stopc:
		s.waits.cancel(r.ID)
		return nil, s.stoppedErr()
	}
	select {
	case res := <-ch:
		if res.err != nil && !isStoreError(res.err) {
			proposalsFailed.Inc()
		}
		return res.ev, res.err
	case <-ctx.Done():
		s.waits.cancel(r.ID)
		return nil, ctx.Err()
	case <-s.stopc:
		s.waits.cancel(r.ID)
		return nil, s.stoppedErr()
	}
}

// expireLoop fails writes that were not applied within RequestTimeout.
func (s *Server) expireLoop() {
	defer s.wg.Done()
	t := time.NewTicker(max(s.cfg.RequestTimeout/20, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.waits.expire(time.Now().Add(-s.cfg.RequestTimeout), s.timeoutErr())
		case <-s.stopc:
			return
		}
	}
}

func isStoreError(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code < 300
}

func (s *Server) timeoutErr() error {
	return apierr.New(apierr.RaftInternal, "request timed out", s.store.Index())
}

func (s *Server) stoppedErr() error {
	return apierr.New(apierr.RaftInternal, "member is stopping", s.store.Index())
}

// errNoLeader answers writes that no leader took.
var errNoLeader = errors.New("no leader to take the write (election in progress or member cut off)")

// proposeTimeout is how long a batch may wait for a leader to take it:
// three election timeouts, as long as a watch waits before it gives up.
func (s *Server) proposeTimeout() time.Duration {
	return min(3*time.Duration(s.cfg.ElectionTicks)*s.cfg.TickInterval, s.cfg.RequestTimeout)
}

// proposeLoop batches every pending write into one log entry. After each
// proposal it waits until the Raft loop has taken it (the Ready stage's
// Started signal), and while the Raft loop (in its fsync) or the apply loop
// is busy it keeps gathering writes until they are done (see gatherBatch):
// one entry per fsync, holding every write that arrived meanwhile.
func (s *Server) proposeLoop() {
	defer s.wg.Done()
	var batch pendingBatch
	// A Ready always follows a proposal Raft accepted; the timer only
	// guards against a lost signal.
	turn := time.NewTimer(s.cfg.TickInterval)
	defer turn.Stop()
	for {
		var r *store.Request
		select {
		case r = <-s.proposec:
		case <-s.stopc:
			return
		}
		if !gatherBatch(&batch, r, s.proposec, s.stopc, s.node.ReadyStage(), s.applying) {
			return
		}
		batchSize.Observe(float64(len(batch.ids)))
		select { // drop a stale signal from a Ready taken before this proposal
		case <-s.node.ReadyStage().Started():
		default:
		}
		// Raft takes a proposal at once while there is a leader; without
		// one it would hold it (and every write queued behind it) until the
		// request timeout. Failing after a few election timeouts lets
		// clients retry elsewhere; the proposal was never taken, so nothing
		// of it can apply later.
		ctx, cancel := context.WithTimeout(context.Background(), s.proposeTimeout())
		term, err := s.node.ProposeInTerm(ctx, batch.enc.entry())
		cancel()
		if err == nil {
			s.waits.proposed(batch.ids, term)
		}
		if err != nil {
			code := apierr.RaftInternal
			if errors.Is(err, raft.ErrProposalDropped) || errors.Is(err, context.DeadlineExceeded) {
				code, err = apierr.LeaderElect, errNoLeader
			}
			for _, id := range batch.ids {
				s.waits.trigger(id, result{err: apierr.New(code, err.Error(), s.store.Index())})
			}
			continue
		}
		turn.Reset(s.cfg.TickInterval)
		select {
		case <-s.node.ReadyStage().Started():
		case <-turn.C:
		case <-s.stopc:
			return
		}
	}
}

// applyLoop applies committed entries in log order, installs snapshots a
// leader sent, and takes a snapshot when a follower needs one.
func (s *Server) applyLoop() {
	defer s.wg.Done()
	defer close(s.applyDone)
	for {
		select {
		case a, ok := <-s.node.Apply():
			if !ok {
				// The Ready loop ended: asked to (Stop), or because the WAL
				// failed; the member cannot go on either way.
				select {
				case <-s.stopc:
				default:
					s.log.Error("the raft node stopped; stopping the member")
					go s.Stop()
				}
				return
			}
			if a.Snapshot != nil {
				s.installSnapshot(a)
				continue
			}
			var last uint64
			s.applying.Start()
			for _, e := range a.Entries {
				s.applyEntry(e)
				last = e.Index
				s.logBytes += int64(len(e.Data))
			}
			s.applying.Finish()
			s.appliedIndex.Store(last)
			s.node.Applied(last)
			a.Done()
			s.applied.advance(last)
			appliedIndexGauge.Set(float64(last))
			s.maybeSnapshot(last, false)
		case <-s.node.SnapshotWanted():
			s.maybeSnapshot(s.appliedIndex.Load(), true)
		case reply := <-s.snapAtStop:
			reply <- s.snapshotForStop()
		}
	}
}

// stopSnapshotRatio: at a clean stop, a snapshot is written when the log
// since the last one is at least this fraction of that snapshot's size.
// Replaying less takes little time, while writing a large store out again
// would make the stop slow for nothing.
const stopSnapshotRatio = 8

// snapshotForStop starts a snapshot of what was applied since the last
// one, if worth it, and returns what Stop waits for: the newest snapshot
// being written (nil when none is).
func (s *Server) snapshotForStop() <-chan struct{} {
	if applied := s.appliedIndex.Load(); !s.cfg.NoSnapshots && s.logBytes*stopSnapshotRatio >= s.lastSnapSize.Load() {
		s.maybeSnapshot(applied, true)
	}
	return s.snapWritten
}

// snapshotBeforeStop has the apply goroutine snapshot what it applied
// since the last snapshot (snapshotForStop) and waits until that is
// written, before the member stops.
func (s *Server) snapshotBeforeStop() {
	reply := make(chan (<-chan struct{}), 1)
	select {
	case s.snapAtStop <- reply:
	case <-s.applyDone: // the Raft node stopped by itself (its WAL failed)
		return
	}
	if written := <-reply; written != nil {
		<-written
	}
}

// installSnapshot replaces the store with a snapshot the leader sent.
// Watchers of the old store end (the store's Restore tells them why).
func (s *Server) installSnapshot(a raftnode.Apply) {
	idx := a.Snapshot.Index
	cr := &countingReader{}
	err := s.node.LoadSnapshot(idx, func(r io.Reader) error {
		cr.r = r
		return s.store.Restore(cr)
	})
	if err != nil {
		// The snapshot was saved and checked when it arrived; failing now
		// means the disk lost it, and applying later entries on top of the
		// old store would diverge from the cluster.
		s.log.Error("cannot install the leader's snapshot; stopping", "index", idx, "err", err)
		a.Done()
		go s.Stop()
		return
	}
	if err := s.members.restore(a.Snapshot.Members); err != nil {
		s.log.Error("snapshot from the leader", "index", idx, "err", err)
	}
	for _, m := range s.members.list() {
		s.peerAdded(m)
	}
	s.log.Info("installed snapshot from the leader", "index", idx, "store_index", s.store.Index())
	s.lastSnap, s.logBytes = idx, 0
	s.lastSnapSize.Store(cr.n)
	s.appliedIndex.Store(idx)
	a.Done()
	s.applied.advance(idx)
	appliedIndexGauge.Set(float64(idx))
}

func (s *Server) applyEntry(e raftpb.Entry) {
	if e.Term > s.appliedTerm {
		if s.appliedTerm != 0 {
			s.answerLeaderChange(e.Term)
		}
		s.appliedTerm = e.Term
	}
	switch e.Type {
	case raftpb.EntryNormal:
		if err := applyRequests(s.store, e.Data, s.answer); err != nil {
			// Every member decodes the same bytes, so skipping keeps them
			// identical; the WAL's CRC makes this a bug, not disk damage.
			s.log.Error("skipping undecodable log entry", "index", e.Index, "err", err)
		}
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			s.log.Error("skipping undecodable conf change", "index", e.Index, "err", err)
			return
		}
		err := s.applyConfChange(cc)
		if cc.ID != 0 {
			s.waits.trigger(cc.ID, result{err: err})
		}
	}
}

// answerLeaderChange answers the writes still waiting that were proposed
// before term, whose leader's first entry is being applied. Everything
// older that will ever commit came before that entry: such a write was
// lost with its leader's log, unless its proposal is still on its way to
// the new leader through a member that forwards it. Either way it cannot
// be known here, and waiting on would only tell the caller so after
// RequestTimeout (~7 s) instead of now.
func (s *Server) answerLeaderChange(term uint64) {
	s.waits.leaderChanged(term, apierr.New(apierr.RaftInternal,
		"the leader changed before this write was committed: it may or may not have been applied", s.store.Index()))
}

// answer hands a request's outcome to its waiting caller, if it is this
// member's and still waiting.
func (s *Server) answer(r *store.Request, ev *store.Event, err error) {
	if r.ID != 0 {
		s.waits.trigger(r.ID, result{ev: ev, err: err})
	}
}

// snapshotLogRatio: a snapshot is taken only once the log written since the
// previous one is at least this fraction of that snapshot's size. With a
// large store, snapshotting every SnapshotCount entries would rewrite the
// whole store many times over (a 1M-key fill wrote ~5 GB of snapshots);
// this bounds snapshot writes to a few times the store's final size, and the
// log replayed at restart to a quarter of a snapshot.
const snapshotLogRatio = 4

// maybeSnapshot captures the store every SnapshotCount entries or
// SnapshotLogBytes of them (and see snapshotLogRatio), or now when force is
// set (a follower needs a snapshot newer than any on disk), and writes it
// out in the background: capturing is O(1), so writes never wait for it.
func (s *Server) maybeSnapshot(applied uint64, force bool) {
	due := (applied-s.lastSnap >= s.cfg.SnapshotCount || s.logBytes >= s.cfg.SnapshotLogBytes) &&
		s.logBytes*snapshotLogRatio >= s.lastSnapSize.Load() && !s.cfg.NoSnapshots
	if force {
		due = applied > s.lastSnap
	}
	if !due || !s.snapshotting.CompareAndSwap(false, true) {
		return
	}
	term, err := s.node.Term(applied)
	if err != nil {
		s.snapshotting.Store(false)
		s.log.Error("snapshot: term of applied entry", "index", applied, "err", err)
		return
	}
	sn := s.store.Snapshot()
	cs := s.node.ConfState()
	members := s.members.encode()
	s.lastSnap, s.logBytes = applied, 0
	written := make(chan struct{})
	s.snapWritten = written
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(written)
		defer s.snapshotting.Store(false)
		err := s.node.SaveSnapshot(applied, term, cs, members, func(w io.Writer) error {
			n, err := sn.WriteTo(w)
			s.lastSnapSize.Store(n)
			return err
		})
		if err != nil && !errors.Is(err, raftnode.ErrStopped) {
			s.log.Error("snapshot failed", "index", applied, "err", err)
		}
	}()
}

// clockLoop keeps time flowing through the log while this member leads:
// first an Extend covering the time without a leader, then a Sync every
// SyncInterval while any key has a TTL.
func (s *Server) clockLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	var extendedTerm uint64
	for {
		select {
		case <-t.C:
		case <-s.node.LeaderChanged():
		case <-s.stopc:
			return
		}
		st := s.node.Status()
		if !st.IsLeader {
			extendedTerm = 0
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		if extendedTerm != st.Term {
			if _, err := s.Write(ctx, &store.Request{Method: store.MethodExtend, Time: s.cfg.Clock().UnixNano()}); err == nil {
				extendedTerm = st.Term
			} else {
				s.log.Warn("extend expirations", "err", err)
			}
		} else if _, ok := s.store.NextExpiration(); ok {
			if _, err := s.Write(ctx, &store.Request{Method: store.MethodSync, Time: s.cfg.Clock().UnixNano()}); err != nil {
				s.log.Warn("sync time", "err", err)
			}
		}
		cancel()
	}
}

// Get reads path for a client (store.Read: a large listing is encoded from
// a copy of the tree); with quorum (or StrictReads) it is linearizable.
func (s *Server) Get(ctx context.Context, path string, recursive, sorted, quorum bool) (*store.Event, error) {
	select {
	case <-s.readyc:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopc:
		return nil, s.stoppedErr()
	}
	var target uint64
	if quorum || s.cfg.StrictReads {
		idx, err := s.node.ReadIndex(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, apierr.New(apierr.RaftInternal, err.Error(), s.store.Index())
		}
		target = idx
	}
	select {
	case <-s.applied.wait(target):
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopc:
		return nil, s.stoppedErr()
	}
	return s.store.Read(path, recursive, sorted, s.cfg.Clock())
}

// Watch starts a watcher on the local store.
func (s *Server) Watch(path string, recursive, stream bool, sinceIndex uint64) (*store.Watcher, error) {
	return s.store.Watch(path, recursive, stream, sinceIndex)
}

// Status is the member's state for response headers.
func (s *Server) Status() httpapi.Status {
	st := s.node.Status()
	return httpapi.Status{
		StoreIndex: s.store.Index(),
		RaftIndex:  s.appliedIndex.Load(),
		RaftTerm:   st.Term,
		ClusterID:  s.id.ClusterID,
		LeaderID:   st.Leader,
	}
}

// StoreStats is /v2/stats/store.
func (s *Server) StoreStats() store.Stats { return s.store.Stats() }

// Health is nil when the member has a leader and has caught up with it
// since starting.
func (s *Server) Health(ctx context.Context) error {
	if s.node.Status().Leader == raft.None {
		return errors.New("no leader")
	}
	select {
	case <-s.readyc:
	default:
		return errors.New("catching up with the leader")
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
