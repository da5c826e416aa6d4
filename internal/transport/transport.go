package transport

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Errors returned by the peer-management methods.
var (
	ErrStopped     = errors.New("transport: stopped")
	ErrUnknownPeer = errors.New("transport: unknown peer")
)

// Raft receives what the transport learns. Its methods are called from the
// transport's goroutines (Process from one goroutine per sending peer) and,
// for ReportUnreachable and ReportSnapshot, also from within Send, on the
// caller's goroutine; none of them may wait for that caller. raft.Node's
// Step, ReportUnreachable and ReportSnapshot satisfy this. No method is
// called after Stop returns.
type Raft interface {
	// Process steps a message received from a peer. An error is logged and
	// the message dropped; Raft retransmits.
	Process(ctx context.Context, m raftpb.Message) error
	// ReportUnreachable says a message to id was lost.
	ReportUnreachable(id uint64)
	// ReportSnapshot says how sending a MsgSnap to id ended.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// Snapshots moves snapshot bodies between the transport and disk. A MsgSnap
// carries only metadata; its body travels beside it.
type Snapshots interface {
	// OpenSnapshot returns the body of the snapshot m carries (its
	// Snapshot.Metadata says which), for sending. The transport closes it.
	// Called on a goroutine of the transport, never within Send.
	OpenSnapshot(m raftpb.Message) (io.ReadCloser, error)
	// SaveSnapshot stores a received snapshot body durably, reading body to
	// io.EOF. If body returns any other error the transfer broke and
	// nothing of it may be kept. After SaveSnapshot returns nil the
	// transport hands m to Raft.Process.
	SaveSnapshot(ctx context.Context, m raftpb.Message, body io.Reader) error
}

// Config describes one member's transport. Zero durations and sizes take
// the defaults named beside them.
type Config struct {
	ClusterID uint64 // streams from another cluster are refused
	MemberID  uint64 // this member; streams addressed to another are refused
	Raft      Raft
	// Snapshots may be nil: MsgSnap is then reported failed and incoming
	// snapshots are refused.
	Snapshots Snapshots
	Logger    *slog.Logger

	// Removed, if set, reports whether a member was removed from the
	// cluster: its streams are refused with 410 Gone, which tells it so.
	Removed func(id uint64) bool
	// OnRemoved, if set, is called (once) when a peer refuses this
	// member's stream with 410 Gone: the cluster removed this member.
	OnRemoved func()

	// TLS is the client configuration for https peer URLs.
	TLS *tls.Config
	// DialContext opens connections to peers (default: net.Dialer). Tests
	// plug in faultnet.Network.Dialer here.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	QueueLen     int // messages queued per peer (4096)
	QueueBytes   int // bytes of messages queued per peer (32 MiB)
	MaxFrameSize int // largest message accepted (64 MiB)

	PingInterval time.Duration // stream ping, for latency and liveness (1s)
	// IdleTimeout ends a stream or snapshot transfer that made no progress
	// for this long: no pong for the sender, no bytes for the receiver (5s).
	IdleTimeout time.Duration
	DialTimeout time.Duration // (2s)
	BackoffMin  time.Duration // first wait before redialling a peer (50ms)
	BackoffMax  time.Duration // cap on the wait (1s)
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DialContext == nil {
		c.DialContext = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	setDefault(&c.QueueLen, 4096)
	setDefault(&c.QueueBytes, 32<<20)
	setDefault(&c.MaxFrameSize, 64<<20)
	setDefault(&c.IdleTimeout, 5*time.Second)
	setDefault(&c.PingInterval, time.Second)
	if c.PingInterval >= c.IdleTimeout {
		c.PingInterval = c.IdleTimeout / 3
	}
	setDefault(&c.DialTimeout, 2*time.Second)
	setDefault(&c.BackoffMin, 50*time.Millisecond)
	setDefault(&c.BackoffMax, time.Second)
	c.BackoffMax = max(c.BackoffMax, c.BackoffMin)
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Transport carries Raft messages between this member and its peers.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	epoch  time.Time // ping tokens are nanoseconds since epoch (monotonic)

	ctx    context.Context // ends at Stop; parent of every peer's context
	cancel context.CancelFunc

	mu      sync.RWMutex
	peers   map[uint64]*peer // guarded by mu
	stopped bool             // guarded by mu
	// handlers counts running inbound requests; Add only under mu while
	// not stopped, so Stop can wait for them.
	handlers sync.WaitGroup

	inbound inbound

	removedOnce sync.Once // OnRemoved is called once
}

// noteRemoved tells the owner, once, that a peer said this member was
// removed from the cluster.
func (t *Transport) noteRemoved() {
	if t.cfg.OnRemoved != nil {
		t.removedOnce.Do(t.cfg.OnRemoved)
	}
}

// New returns a transport with no peers. Serve Handler on the peer
// listener and add peers with AddPeer.
func New(cfg Config) (*Transport, error) {
	if cfg.MemberID == 0 {
		return nil, errors.New("transport: member ID 0")
	}
	if cfg.Raft == nil {
		return nil, errors.New("transport: no Raft")
	}
	cfg.setDefaults()
	dial := cfg.DialContext
	timeout := cfg.DialTimeout
	ht := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return dial(ctx, network, addr)
		},
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: cfg.DialTimeout,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     time.Minute,
		// One TCP connection per stream: a snapshot must not share a flow
		// control window with the heartbeats, as HTTP/2 would make it.
		Protocols: new(http.Protocols),
	}
	ht.Protocols.SetHTTP1(true)
	t := &Transport{
		cfg:    cfg,
		log:    cfg.Logger.With("member", fmt.Sprintf("%x", cfg.MemberID)),
		client: &http.Client{Transport: ht},
		epoch:  time.Now(),
		peers:  map[uint64]*peer{},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.inbound.streams = map[uint64]*inboundStream{}
	return t, nil
}

// AddPeer starts streaming to member id at the given peer URLs (tried in
// turn). Adding a known peer updates its URLs, so replaying membership
// changes is harmless.
func (t *Transport) AddPeer(id uint64, urls []string) error {
	if id == 0 || id == t.cfg.MemberID {
		return fmt.Errorf("transport: cannot add peer %x", id)
	}
	urls, err := checkURLs(urls)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return ErrStopped
	}
	if p, ok := t.peers[id]; ok {
		p.setURLs(urls)
		return nil
	}
	p := newPeer(t, id, urls)
	t.peers[id] = p
	p.start()
	return nil
}

// UpdatePeer replaces a peer's URLs. A stream on a URL no longer listed is
// closed and reopened on the new ones.
func (t *Transport) UpdatePeer(id uint64, urls []string) error {
	urls, err := checkURLs(urls)
	if err != nil {
		return err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.peers[id]
	if !ok {
		return fmt.Errorf("%w %x", ErrUnknownPeer, id)
	}
	p.setURLs(urls)
	return nil
}

// RemovePeer stops streaming to id, drops what was queued for it and waits
// for its goroutines. It also ends the stream id opened to this member:
// a removed member that missed its own removal otherwise keeps that
// stream (pongs keep it alive) and never redials to be refused with 410
// Gone. Removing an unknown peer does nothing.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p, ok := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if ok {
		p.stop()
	}
	t.inbound.end(id)
}

// Send queues messages for their peers and returns without waiting for the
// network. A message for an unknown peer is dropped; one that does not fit
// its peer's queue is dropped, and the peer reported (once per call) with
// Raft.ReportUnreachable; a MsgSnap that cannot start is also reported
// with Raft.ReportSnapshot. Raft retransmits either way.
func (t *Transport) Send(msgs []raftpb.Message) {
	// Failures are reported after the lock is released, since reporting
	// may block briefly on the Raft node.
	var failed []failure
	t.mu.RLock()
	if t.stopped {
		t.mu.RUnlock()
		return
	}
	for i := range msgs {
		m := &msgs[i]
		p := t.peers[m.To]
		if p == nil {
			if m.Type == raftpb.MsgSnap {
				failed = append(failed, failure{m.To, true})
			}
			continue
		}
		if !p.send(m) {
			failed = append(failed, failure{m.To, m.Type == raftpb.MsgSnap})
		}
	}
	t.mu.RUnlock()
	for i, f := range failed {
		if f.snapshot {
			t.cfg.Raft.ReportSnapshot(f.to, raft.SnapshotFailure)
		}
		// Once per peer and call is enough for Raft, and each report is a
		// channel send to the Raft node.
		if !slices.ContainsFunc(failed[:i], func(g failure) bool { return g.to == f.to }) {
			t.cfg.Raft.ReportUnreachable(f.to)
		}
	}
}

type failure struct {
	to       uint64
	snapshot bool
}

// Peers returns the status of every peer, ordered by ID.
func (t *Transport) Peers() []PeerStatus {
	t.mu.RLock()
	ps := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		ps = append(ps, p)
	}
	t.mu.RUnlock()
	out := make([]PeerStatus, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.status())
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Peer returns one peer's status.
func (t *Transport) Peer(id uint64) (PeerStatus, bool) {
	t.mu.RLock()
	p := t.peers[id]
	t.mu.RUnlock()
	if p == nil {
		return PeerStatus{}, false
	}
	return p.status(), true
}

// Stop closes every stream and snapshot transfer, in both directions, and
// waits for the transport's goroutines. Send after Stop drops everything.
func (t *Transport) Stop() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	t.stopped = true
	peers := t.peers
	t.peers = map[uint64]*peer{}
	t.mu.Unlock()

	t.cancel()
	for _, p := range peers {
		p.stop()
	}
	t.handlers.Wait()
	t.client.CloseIdleConnections()
}

func checkURLs(urls []string) ([]string, error) {
	if len(urls) == 0 {
		return nil, errors.New("transport: peer without URLs")
	}
	out := make([]string, len(urls))
	for i, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("transport: bad peer URL %q", s)
		}
		out[i] = u.Scheme + "://" + u.Host
	}
	return out, nil
}
