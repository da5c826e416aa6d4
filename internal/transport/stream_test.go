package transport

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/transport/faultnet"
)

func TestMessagesArriveInOrderPerPeer(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, nil)
	peers := []*member{newMember(t, nw, 2, nil), newMember(t, nw, 3, nil), newMember(t, nw, 4, nil)}
	connect(t, append([]*member{a}, peers...)...)
	a.waitConnected(2, 3, 4)

	// Ready-sized sends, each mixing messages for every peer.
	const n = 600
	for seq := uint64(1); seq <= n; seq += 3 {
		var batch []raftpb.Message
		for s := seq; s < seq+3; s++ {
			for _, p := range peers {
				batch = append(batch, msg(1, p.id, s))
			}
		}
		a.tr.Send(batch)
		if seq%60 == 1 {
			// Let the writers catch up now and then, so the default
			// queues never overflow.
			for _, p := range peers {
				eventually(t, "catch up", func() bool { return len(p.rec.from(1)) >= int(seq) })
			}
		}
	}
	for _, p := range peers {
		eventually(t, "all messages arrive", func() bool { return len(p.rec.from(1)) >= n })
		if got := p.rec.from(1); !slices.Equal(got, seqs(1, n)) {
			t.Fatalf("peer %x received %v", p.id, got)
		}
		st := a.peer(p.id)
		if st.Counts.Success != n || st.Counts.Fail != 0 {
			t.Errorf("peer %x counts %+v, want %d successes", p.id, st.Counts, n)
		}
		if st.Batches == 0 || st.Batches > n {
			t.Errorf("peer %x: %d batches for %d messages", p.id, st.Batches, n)
		}
	}
	// The entries made it through the encoding intact.
	peers[0].rec.mu.Lock()
	m := peers[0].rec.msgs[1][41]
	peers[0].rec.mu.Unlock()
	if string(m.Entries[0].Data) != "entry 42" || m.Type != raftpb.MsgApp || m.To != 2 {
		t.Fatalf("message 42 arrived as %+v", m)
	}
}

// While a write is stuck, everything queued behind it must go out as one
// batch once the network lets it through.
func TestQueuedBurstIsBatched(t *testing.T) {
	nw := faultnet.New()
	a, b := newMember(t, nw, 1, nil), newMember(t, nw, 2, nil)
	connect(t, a, b)
	a.waitConnected(2)

	nw.Block(1, 2)
	var burst []raftpb.Message
	for seq := uint64(1); seq <= 1000; seq++ {
		burst = append(burst, msg(1, 2, seq))
	}
	sendReturns(t, a.tr, burst)
	nw.Heal()
	eventually(t, "the burst arrives", func() bool { return len(b.rec.from(1)) >= 1000 })
	if got := b.rec.from(1); !slices.Equal(got, seqs(1, 1000)) {
		t.Fatalf("received %v", got)
	}
	// The writer took what was queued when it started (at least one
	// message) and everything else once the first write got through: two
	// writes, plus any a ping happened to share or need meanwhile (seen:
	// three under load). Without batching it would be a thousand.
	if st := a.peer(2); st.Batches > 10 {
		t.Fatalf("1000 queued messages took %d writes", st.Batches)
	}
}

func TestReconnectsAfterPeerRestart(t *testing.T) {
	nw := faultnet.New()
	a, b := newMember(t, nw, 1, nil), newMember(t, nw, 2, nil)
	connect(t, a, b)
	a.waitConnected(2)
	a.tr.Send([]raftpb.Message{msg(1, 2, 1)})
	eventually(t, "first message", func() bool { return len(b.rec.from(1)) == 1 })
	firstUp := a.peer(2).ActiveSince

	b.stop()
	eventually(t, "the stream notices the restart", func() bool { return !a.peer(2).Connected })
	b.rec = newRecorder()
	b.cfg.Raft, b.cfg.Snapshots = b.rec, b.rec
	b.start() // same address, new listener and transport

	a.waitConnected(2)
	if !a.peer(2).ActiveSince.After(firstUp) {
		t.Fatal("ActiveSince did not move to the new stream")
	}
	a.tr.Send([]raftpb.Message{msg(1, 2, 2), msg(1, 2, 3)})
	eventually(t, "messages after restart", func() bool { return len(b.rec.from(1)) == 2 })
	if got := b.rec.from(1); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("after restart received %v", got)
	}
}

func TestQueueOverflowDropsAndReportsUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(*Config)
		dataBytes int
	}{
		{"by count", func(c *Config) { c.QueueLen = 8 }, 10},
		{"by bytes", func(c *Config) { c.QueueBytes = 8 * 1100 }, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := faultnet.New()
			a := newMember(t, nw, 1, func(c *Config, _ *recorder) { tc.edit(c) })
			b := newMember(t, nw, 2, nil)
			// The link is down before the first dial, so the writer never
			// takes anything from the queue.
			nw.Block(1, 2)
			connect(t, a, b)
			var msgs []raftpb.Message
			for seq := uint64(1); seq <= 20; seq++ {
				m := msg(1, 2, seq)
				m.Entries[0].Data = make([]byte, tc.dataBytes)
				msgs = append(msgs, m)
			}
			sendReturns(t, a.tr, msgs)
			// 8 fit; Send reported the peer before it returned.
			if n := a.rec.unreachableCount(2); n < 1 {
				t.Fatal("dropped messages, but the peer was not reported unreachable")
			}
			if st := a.peer(2); st.Counts.Fail < 12 || st.Counts.Success != 0 {
				t.Fatalf("counts %+v", st.Counts)
			}
			if !contains(a.logs.String(), "dropping messages") {
				t.Fatalf("drop not logged:\n%s", a.logs)
			}
		})
	}
}

func TestUnknownPeerIsDropped(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, nil)
	sendReturns(t, a.tr, []raftpb.Message{msg(1, 9, 1)})
	if len(a.tr.Peers()) != 0 {
		t.Fatal("sending to an unknown peer created it")
	}
}

// A blackholed peer and a dead one must cost a healthy peer nothing.
func TestDownPeerDoesNotStallOthers(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, func(c *Config, _ *recorder) { c.QueueLen = 64 })
	b, c := newMember(t, nw, 2, nil), newMember(t, nw, 3, nil)
	connect(t, a, b, c)
	if err := a.tr.AddPeer(4, []string{"http://" + closedAddr(t)}); err != nil {
		t.Fatal(err)
	}
	a.waitConnected(2, 3)
	nw.Isolate(2) // its stream stays open, and writes to it hang

	const rounds, per = 50, 20
	for r := uint64(0); r < rounds; r++ {
		var batch []raftpb.Message
		for s := r*per + 1; s <= (r+1)*per; s++ {
			batch = append(batch, msg(1, 2, s), msg(1, 3, s), msg(1, 4, s))
		}
		sendReturns(t, a.tr, batch)
		eventually(t, "the healthy peer keeps up", func() bool { return len(c.rec.from(1)) >= int((r+1)*per) })
	}
	if got := c.rec.from(1); !slices.Equal(got, seqs(1, rounds*per)) {
		t.Fatalf("healthy peer received %v", got)
	}
	if st := a.peer(2); st.Counts.Fail == 0 || a.rec.unreachableCount(2) == 0 {
		t.Fatalf("blackholed peer: counts %+v, %d unreachable reports", st.Counts, a.rec.unreachableCount(2))
	}
	if st := a.peer(4); st.Connected || st.Counts.Success != 0 || st.LastError == "" {
		t.Fatalf("dead peer status %+v", st)
	}
	if len(b.rec.from(1)) != 0 {
		t.Fatal("the isolated peer received messages")
	}
}

func TestPartitionStopsBothWaysAndHealRestores(t *testing.T) {
	nw := faultnet.New()
	a, b, c := newMember(t, nw, 1, nil), newMember(t, nw, 2, nil), newMember(t, nw, 3, nil)
	connect(t, a, b, c)
	a.waitConnected(2, 3)
	b.waitConnected(1, 3)

	nw.Partition([]uint64{1}, []uint64{2})
	for seq := uint64(1); seq <= 10; seq++ {
		a.tr.Send([]raftpb.Message{msg(1, 2, seq), msg(1, 3, seq)})
		b.tr.Send([]raftpb.Message{msg(2, 1, seq), msg(2, 3, seq)})
	}
	// Both sent (the third member got everything), and neither got the other's.
	eventually(t, "the third member hears both", func() bool {
		return len(c.rec.from(1)) == 10 && len(c.rec.from(2)) == 10
	})
	if got := b.rec.from(1); len(got) != 0 {
		t.Fatalf("across the partition 2 received %v from 1", got)
	}
	if got := a.rec.from(2); len(got) != 0 {
		t.Fatalf("across the partition 1 received %v from 2", got)
	}

	nw.Heal()
	// Messages sent during the partition may or may not survive it; those
	// sent after the heal must arrive, in order.
	a.tr.Send([]raftpb.Message{msg(1, 2, 100), msg(1, 2, 101)})
	b.tr.Send([]raftpb.Message{msg(2, 1, 100), msg(2, 1, 101)})
	for _, x := range []struct {
		rec  *recorder
		from uint64
	}{{b.rec, 1}, {a.rec, 2}} {
		eventually(t, "traffic after the heal", func() bool {
			got := x.rec.from(x.from)
			return len(got) >= 2 && slices.Equal(got[len(got)-2:], []uint64{100, 101})
		})
	}
}

// Pongs keep an idle stream alive; when they stop coming back, the sender
// must give up on the stream even though its writes still succeed.
func TestSilentStreamIsAbandoned(t *testing.T) {
	const idle = 500 * time.Millisecond
	nw := faultnet.New()
	a := newMember(t, nw, 1, func(c *Config, _ *recorder) { c.IdleTimeout = idle })
	b := newMember(t, nw, 2, func(c *Config, _ *recorder) { c.IdleTimeout = idle })
	connect(t, a, b)
	a.waitConnected(2)
	up := a.peer(2).ActiveSince
	time.Sleep(3 * idle) // no messages, only pings
	if st := a.peer(2); !st.Connected || !st.ActiveSince.Equal(up) {
		t.Fatalf("an idle but healthy stream was not kept: %+v", st)
	}

	nw.Block(2, 1) // pongs travel 2 → 1
	eventually(t, "the stream is abandoned", func() bool {
		return !a.peer(2).Connected && contains(a.peer(2).LastError, "no pong")
	})
	nw.Heal()
	a.waitConnected(2)
}

// A receiver must end a stream that goes quiet (no pings) by itself.
func TestReceiverEndsQuietStream(t *testing.T) {
	nw := faultnet.New()
	b := newMember(t, nw, 2, func(c *Config, _ *recorder) { c.IdleTimeout = 200 * time.Millisecond })
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.url()+StreamPath, pr)
	req.ContentLength = -1
	req.Header.Set(headerClusterID, strconv.FormatUint(testCluster, 16))
	req.Header.Set(headerFrom, "1")
	req.Header.Set(headerTo, "2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); ended <- err }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the receiver kept a silent stream open")
	}
}

func TestClusterIDMismatchIsRefused(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, nil)
	b := newMember(t, nw, 2, func(c *Config, _ *recorder) { c.ClusterID = 0xbad })
	connect(t, a, b)
	a.tr.Send([]raftpb.Message{msg(1, 2, 1)})
	eventually(t, "the sender sees the refusal", func() bool {
		st := a.peer(2)
		return !st.Connected && contains(st.LastError, "412") && contains(st.LastError, "cluster ID mismatch")
	})
	eventually(t, "the sender logs it", func() bool {
		return contains(a.logs.String(), "peer refused our stream") && contains(a.logs.String(), "cluster ID mismatch")
	})
	if !contains(b.logs.String(), "cluster ID mismatch") {
		t.Fatalf("receiver did not log the mismatch:\n%s", b.logs)
	}
	if got := b.rec.from(1); len(got) != 0 {
		t.Fatalf("a member of another cluster delivered %v", got)
	}

	// The same, and a request meant for another member, by hand.
	for _, tc := range []struct{ cluster, to string }{{"c1", "2"}, {"bad", "7"}} {
		req, _ := http.NewRequest(http.MethodPost, b.url()+StreamPath, bytes.NewReader(nil))
		req.Header.Set(headerClusterID, tc.cluster)
		req.Header.Set(headerFrom, "1")
		req.Header.Set(headerTo, tc.to)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPreconditionFailed {
			t.Fatalf("cluster %s to %s: status %d %s", tc.cluster, tc.to, resp.StatusCode, body)
		}
	}
}

// A member the cluster removed (while it was away) is refused with 410
// Gone, delivers nothing, and is told once through OnRemoved.
func TestRemovedMemberIsToldSo(t *testing.T) {
	nw := faultnet.New()
	told := make(chan struct{}, 4)
	a := newMember(t, nw, 1, func(c *Config, _ *recorder) {
		c.OnRemoved = func() { told <- struct{}{} }
	})
	b := newMember(t, nw, 2, func(c *Config, _ *recorder) {
		c.Removed = func(id uint64) bool { return id == 1 }
	})
	connect(t, a, b)
	a.tr.Send([]raftpb.Message{msg(1, 2, 1)})
	select {
	case <-told:
	case <-time.After(5 * time.Second):
		t.Fatalf("OnRemoved not called; sender's view: %+v", a.peer(2))
	}
	eventually(t, "the sender sees the refusal", func() bool {
		st := a.peer(2)
		return !st.Connected && contains(st.LastError, "410") && contains(st.LastError, "was removed")
	})
	// It keeps retrying (backoff) and keeps being refused, but is told once.
	time.Sleep(200 * time.Millisecond)
	if len(told) != 0 {
		t.Fatalf("OnRemoved called %d more times", len(told))
	}
	if got := b.rec.from(1); len(got) != 0 {
		t.Fatalf("a removed member delivered %v", got)
	}
	// Member 2 itself still streams to member 1.
	b.tr.Send([]raftpb.Message{msg(2, 1, 1)})
	eventually(t, "2's message reaches 1", func() bool { return len(a.rec.from(2)) == 1 })
}

// A member removed while its stream to a peer was up, which missed its own
// removal, is told too: RemovePeer ends the stream it opened, and its
// redial is refused. Pongs would otherwise keep that stream alive forever.
func TestRemovePeerEndsTheRemovedMembersStream(t *testing.T) {
	nw := faultnet.New()
	told := make(chan struct{}, 1)
	a := newMember(t, nw, 1, func(c *Config, _ *recorder) {
		c.OnRemoved = func() { told <- struct{}{} }
	})
	var removed atomic.Bool
	b := newMember(t, nw, 2, func(c *Config, _ *recorder) {
		c.Removed = func(id uint64) bool { return id == 1 && removed.Load() }
	})
	connect(t, a, b)
	a.tr.Send([]raftpb.Message{msg(1, 2, 1)})
	eventually(t, "1's stream to 2 is up", func() bool { return len(b.rec.from(1)) == 1 })

	removed.Store(true)
	b.tr.RemovePeer(1)
	select {
	case <-told:
	case <-time.After(5 * time.Second):
		t.Fatalf("the removed member was not told; its view of 2: %+v", a.peer(2))
	}
}

func TestLatencyIsTheStreamRoundTrip(t *testing.T) {
	nw := faultnet.New()
	nw.Delay(1, 2, 15*time.Millisecond)
	nw.Delay(2, 1, 15*time.Millisecond)
	a, b := newMember(t, nw, 1, nil), newMember(t, nw, 2, nil)
	connect(t, a, b)
	a.waitConnected(2)
	eventually(t, "a pong", func() bool { return a.peer(2).Latency.Maximum > 0 })
	a.tr.Send([]raftpb.Message{msg(1, 2, 1)})
	eventually(t, "the message", func() bool { return a.peer(2).Counts.Success == 1 })
	st := a.peer(2)
	l := st.Latency
	if l.Minimum < 30 || l.Maximum < l.Minimum || l.Average < l.Minimum || l.Average > l.Maximum ||
		l.Current < l.Minimum || l.Current > l.Maximum || l.StandardDeviation < 0 {
		t.Fatalf("latency with 15ms each way: %+v", l)
	}
	if st.ActiveSince.IsZero() || !st.Connected || st.LastError != "" || !slices.Equal(st.URLs, []string{b.url()}) {
		t.Fatalf("status %+v", st)
	}
}

func TestUpdatePeerMovesTheStream(t *testing.T) {
	nw := faultnet.New()
	a, b := newMember(t, nw, 1, nil), newMember(t, nw, 2, nil)
	connect(t, a, b)
	a.waitConnected(2)
	oldURL := b.url()

	// Member 2 moves to another port; the old address still answers, as
	// another process might, but must not be used any more.
	moved := newMember(t, nw, 2, nil)
	if err := a.tr.UpdatePeer(2, []string{moved.url()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stream moves", func() bool {
		st := a.peer(2)
		return st.URL == moved.url()
	})
	a.tr.Send([]raftpb.Message{msg(1, 2, 7)})
	eventually(t, "the message reaches the new address", func() bool { return len(moved.rec.from(1)) == 1 })
	if len(b.rec.from(1)) != 0 {
		t.Fatalf("message went to the old URL %s", oldURL)
	}
	if err := a.tr.UpdatePeer(5, []string{moved.url()}); err == nil {
		t.Fatal("UpdatePeer of an unknown peer succeeded")
	}
}

func TestRemovePeer(t *testing.T) {
	nw := faultnet.New()
	a, b := newMember(t, nw, 1, nil), newMember(t, nw, 2, nil)
	connect(t, a, b)
	a.waitConnected(2)
	a.tr.RemovePeer(2)
	a.tr.RemovePeer(2) // twice is harmless
	if _, ok := a.tr.Peer(2); ok {
		t.Fatal("removed peer still listed")
	}
	sendReturns(t, a.tr, []raftpb.Message{msg(1, 2, 1)})
	if len(b.rec.from(1)) != 0 {
		t.Fatal("message reached a removed peer")
	}
}

func TestBadPeerURLs(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, nil)
	for _, urls := range [][]string{nil, {"127.0.0.1:2380"}, {"ftp://x"}, {"http://"}} {
		if err := a.tr.AddPeer(2, urls); err == nil {
			t.Errorf("AddPeer accepted %q", urls)
		}
	}
	if err := a.tr.AddPeer(1, []string{"http://127.0.0.1:1"}); err == nil {
		t.Error("AddPeer accepted the member itself")
	}
}

func TestHandlerAfterStop(t *testing.T) {
	nw := faultnet.New()
	a := newMember(t, nw, 1, nil)
	a.tr.Stop()
	a.tr.Stop()
	a.tr.Send([]raftpb.Message{msg(1, 2, 1)})
	if err := a.tr.AddPeer(2, []string{"http://127.0.0.1:1"}); err == nil {
		t.Fatal("AddPeer after Stop succeeded")
	}
	resp, err := http.Post(a.url()+StreamPath, "application/octet-stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status after Stop: %d", resp.StatusCode)
	}
	resp, err = http.Get(a.url() + StreamPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET status: %d", resp.StatusCode)
	}
}

func TestStreamsAndSnapshotsOverTLS(t *testing.T) {
	nw := faultnet.New()
	conf := testTLS(t)
	a := newMember(t, nw, 1, func(c *Config, r *recorder) {
		c.TLS = conf
		r.open = func(raftpb.Message) (io.ReadCloser, error) { return newGen(4 << 20), nil }
	})
	b := newMember(t, nw, 2, func(c *Config, r *recorder) {
		c.TLS = conf
		r.save = func(ctx context.Context, m raftpb.Message, body io.Reader) error { return verifyBody(body, 4<<20) }
	})
	connect(t, a, b)
	a.waitConnected(2)
	b.waitConnected(1)
	a.tr.Send([]raftpb.Message{msg(1, 2, 1), msg(1, 2, 2)})
	b.tr.Send([]raftpb.Message{msg(2, 1, 1)})
	eventually(t, "messages both ways", func() bool { return len(b.rec.from(1)) == 2 && len(a.rec.from(2)) == 1 })
	eventually(t, "pongs", func() bool { return a.peer(2).Latency.Maximum > 0 })
	a.tr.Send([]raftpb.Message{snapMsg(1, 2, 3)})
	eventually(t, "the snapshot", func() bool { return len(a.rec.snapshotReports()) == 1 })
	if got := a.rec.snapshotReports(); got[0] != raft.SnapshotFinish {
		t.Fatalf("reports %v", got)
	}
}
