package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/testutil"
	"github.com/arbor-kv/arbor/internal/transport/faultnet"
)

const testCluster = 0xc1

// recorder is a member's Raft and Snapshots: it records what arrives.
type recorder struct {
	mu          sync.Mutex
	msgs        map[uint64][]raftpb.Message // by sender; guarded by mu
	unreachable map[uint64]int              // guarded by mu
	snapshots   []raft.SnapshotStatus       // guarded by mu
	// stopped is set once the member's transport stopped; any call after
	// that is counted in late. Guarded by mu.
	stopped bool
	late    int

	// Optional behaviour, set before the member starts.
	process func(ctx context.Context, m raftpb.Message) error
	open    func(m raftpb.Message) (io.ReadCloser, error)
	save    func(ctx context.Context, m raftpb.Message, body io.Reader) error
}

func newRecorder() *recorder {
	return &recorder{msgs: map[uint64][]raftpb.Message{}, unreachable: map[uint64]int{}}
}

func (r *recorder) Process(ctx context.Context, m raftpb.Message) error {
	if r.process != nil {
		if err := r.process(ctx, m); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteLateLocked()
	r.msgs[m.From] = append(r.msgs[m.From], m)
	return nil
}

func (r *recorder) ReportUnreachable(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteLateLocked()
	r.unreachable[id]++
}

func (r *recorder) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteLateLocked()
	r.snapshots = append(r.snapshots, status)
}

func (r *recorder) noteLateLocked() {
	if r.stopped {
		r.late++
	}
}

// markStopped starts counting calls that come too late.
func (r *recorder) markStopped() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
}

func (r *recorder) lateCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.late
}

func (r *recorder) OpenSnapshot(m raftpb.Message) (io.ReadCloser, error) { return r.open(m) }

func (r *recorder) SaveSnapshot(ctx context.Context, m raftpb.Message, body io.Reader) error {
	return r.save(ctx, m, body)
}

// from returns the indexes of the messages received from a sender, in
// arrival order.
func (r *recorder) from(id uint64) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var idx []uint64
	for _, m := range r.msgs[id] {
		idx = append(idx, m.Index)
	}
	return idx
}

func (r *recorder) unreachableCount(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[id]
}

func (r *recorder) snapshotReports() []raft.SnapshotStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.snapshots)
}

// member is one transport served on its own loopback listener.
type member struct {
	t    *testing.T
	id   uint64
	nw   *faultnet.Network
	cfg  Config
	rec  *recorder
	logs *testutil.Buffer
	addr string

	tr  *Transport
	srv *httptest.Server
}

// testConfig is quick to notice failures and to redial, yet lenient
// enough for a loaded machine running the race detector.
func testConfig() Config {
	return Config{
		ClusterID:    testCluster,
		PingInterval: 50 * time.Millisecond,
		IdleTimeout:  2 * time.Second,
		DialTimeout:  time.Second,
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   100 * time.Millisecond,
	}
}

// newMember starts member id on a fresh port. edit may change its config
// and recorder before it starts.
func newMember(t *testing.T, nw *faultnet.Network, id uint64, edit func(*Config, *recorder)) *member {
	t.Helper()
	m := &member{t: t, id: id, nw: nw, cfg: testConfig(), rec: newRecorder(), logs: &testutil.Buffer{}}
	m.cfg.MemberID = id
	m.cfg.Raft = m.rec
	m.cfg.Snapshots = m.rec
	m.cfg.DialContext = nw.Dialer(id)
	m.cfg.Logger = slog.New(slog.NewTextHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if edit != nil {
		edit(&m.cfg, m.rec)
	}
	m.addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	m.start()
	t.Cleanup(m.stop)
	return m
}

// start serves the member on its address, as a restarted process would.
func (m *member) start() {
	m.t.Helper()
	ln, err := m.nw.Listen(m.id, m.addr)
	if err != nil {
		m.t.Fatal(err)
	}
	tr, err := New(m.cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(PathPrefix, tr.Handler())
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	// A member that dials with TLS also serves it.
	if m.cfg.TLS != nil {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	m.tr, m.srv = tr, srv
}

// testTLS trusts the certificate every httptest TLS server uses (valid for
// 127.0.0.1).
func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

// stop ends the member like a crash: connections are cut, not drained.
func (m *member) stop() {
	if m.srv == nil {
		return
	}
	m.srv.CloseClientConnections()
	m.tr.Stop()
	m.rec.markStopped()
	m.srv.Close()
	m.srv = nil
}

func (m *member) url() string {
	if m.cfg.TLS != nil {
		return "https://" + m.addr
	}
	return "http://" + m.addr
}

// connect makes each member a peer of the others.
func connect(t *testing.T, members ...*member) {
	t.Helper()
	for _, a := range members {
		for _, b := range members {
			if a != b {
				if err := a.tr.AddPeer(b.id, []string{b.url()}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func (m *member) waitConnected(peers ...uint64) {
	m.t.Helper()
	for _, id := range peers {
		eventually(m.t, fmt.Sprintf("%x connected to %x", m.id, id), func() bool {
			st, ok := m.tr.Peer(id)
			return ok && st.Connected
		})
	}
}

func (m *member) peer(id uint64) PeerStatus {
	m.t.Helper()
	st, ok := m.tr.Peer(id)
	if !ok {
		m.t.Fatalf("%x has no peer %x", m.id, id)
	}
	return st
}

// msg is a small append with a sequence number in Index.
func msg(from, to, seq uint64) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Term: 1, Index: seq,
		Entries: []raftpb.Entry{{Term: 1, Index: seq, Data: fmt.Appendf(nil, "entry %d", seq)}}}
}

// seqs returns lo..hi.
func seqs(lo, hi uint64) []uint64 {
	var s []uint64
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sendReturns fails the test if Send does not return promptly.
func sendReturns(t *testing.T, tr *Transport, msgs []raftpb.Message) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Send(msgs)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked")
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
