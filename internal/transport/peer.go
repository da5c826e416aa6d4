package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// queued is a message waiting for its peer's stream, with its encoded size.
type queued struct {
	m    raftpb.Message
	size int
}

// peer is the sending side of one remote member: a bounded queue, the
// writer goroutine that owns the stream, and at most one snapshot transfer.
type peer struct {
	t   *Transport
	id  uint64
	log *slog.Logger

	queue chan queued
	// queuedBytes is the encoded size of what queue holds. Send adds before
	// enqueueing and the writer subtracts after taking.
	queuedBytes atomic.Int64
	// dropping is set by Send when it drops a message and cleared by the
	// writer after a write, so a spell of drops is logged once.
	dropping atomic.Bool

	success, fail, batches atomic.Uint64

	ctx    context.Context // ends when the peer is removed or the transport stops
	cancel context.CancelFunc
	wg     sync.WaitGroup // the writer and a snapshot sender

	mu           sync.Mutex
	urls         []string                // guarded by mu
	next         int                     // index into urls of the next dial; guarded by mu
	connURL      string                  // URL of the open stream, "" if none; guarded by mu
	connCancel   context.CancelCauseFunc // ends the open stream; guarded by mu
	activeSince  time.Time               // when the open stream came up; guarded by mu
	lastErr      string                  // guarded by mu
	loggedErr    string                  // the last failure logged, to log each kind once; guarded by mu
	latency      latencyStats            // guarded by mu
	snapshotting bool                    // a snapshot transfer is running; guarded by mu
}

var (
	errURLRemoved = errors.New("transport: peer URL removed")
	errNoPong     = errors.New("transport: no pong within the idle timeout")
)

func newPeer(t *Transport, id uint64, urls []string) *peer {
	p := &peer{
		t:     t,
		id:    id,
		log:   t.log.With("peer", fmt.Sprintf("%x", id)),
		queue: make(chan queued, t.cfg.QueueLen),
		urls:  urls,
	}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	return p
}

func (p *peer) start() {
	p.wg.Add(1)
	go p.run()
}

// stop ends the peer's goroutines and waits for them.
func (p *peer) stop() {
	p.cancel()
	p.wg.Wait()
}

// send queues m without blocking, or starts a snapshot transfer for a
// MsgSnap. It reports false if m was dropped. Called by Transport.Send
// under the transport's read lock, so stop cannot run meanwhile.
func (p *peer) send(m *raftpb.Message) bool {
	if m.Type == raftpb.MsgSnap {
		return p.startSnapshot(*m)
	}
	size := m.Size()
	// A message larger than the byte budget still goes through an empty
	// queue; Raft bounds message sizes itself.
	if total := p.queuedBytes.Add(int64(size)); total > int64(p.t.cfg.QueueBytes) && total != int64(size) {
		p.queuedBytes.Add(-int64(size))
		p.dropped()
		return false
	}
	select {
	case p.queue <- queued{*m, size}:
		return true
	default:
		p.queuedBytes.Add(-int64(size))
		p.dropped()
		return false
	}
}

func (p *peer) dropped() {
	p.fail.Add(1)
	if !p.dropping.Swap(true) {
		p.log.Warn("transport: peer queue full, dropping messages to it", "queue_len", len(p.queue), "queued_bytes", p.queuedBytes.Load())
	}
}

// run is the writer goroutine: it keeps one stream open, redialling with
// backoff while the peer cannot be reached.
func (p *peer) run() {
	defer p.wg.Done()
	b := backoff{min: p.t.cfg.BackoffMin, max: p.t.cfg.BackoffMax}
	for {
		u := p.pickURL()
		connected, err := p.stream(u)
		if p.ctx.Err() != nil {
			return
		}
		p.noteDown(u, connected, err)
		p.discardQueue()
		if connected {
			b.reset()
		}
		select {
		case <-time.After(b.next()):
		case <-p.ctx.Done():
			return
		}
	}
}

// discardQueue drops what was queued for a stream that broke: by the time
// a new one is up it is stale, and Raft resends what still matters once it
// hears the peer was unreachable.
func (p *peer) discardQueue() {
	n := 0
	for {
		select {
		case q := <-p.queue:
			p.queuedBytes.Add(-int64(q.size))
			n++
			continue
		default:
		}
		break
	}
	if n > 0 {
		p.fail.Add(uint64(n))
	}
	p.t.cfg.Raft.ReportUnreachable(p.id)
}

func (p *peer) pickURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[p.next%len(p.urls)]
}

func (p *peer) setURLs(urls []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.urls, p.next = urls, 0
	if p.connURL != "" && !slices.Contains(urls, p.connURL) {
		p.connCancel(errURLRemoved)
	}
}

// noteUp records an accepted stream; cancel ends it.
func (p *peer) noteUp(u string, cancel context.CancelCauseFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.connURL, p.connCancel, p.activeSince = u, cancel, time.Now()
	p.lastErr, p.loggedErr = "", ""
	p.log.Info("transport: stream to peer connected", "url", u)
}

// noteDown records why the stream on u ended or could not start. A broken
// stream is always logged; a failing dial only when the reason changes, so
// a peer that stays down does not flood the log.
func (p *peer) noteDown(u string, connected bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.connURL, p.connCancel, p.activeSince = "", nil, time.Time{}
	if err == nil {
		err = errors.New("transport: stream ended")
	}
	p.lastErr = err.Error()
	var rej *rejectedError
	switch {
	case connected:
		p.log.Warn("transport: stream to peer broke", "url", u, "err", err)
	case p.lastErr == p.loggedErr:
		p.log.Debug("transport: cannot reach peer", "url", u, "err", err)
	case errors.As(err, &rej):
		p.log.Error("transport: peer refused our stream", "url", u, "status", rej.status, "reason", rej.reason)
	default:
		p.log.Warn("transport: cannot reach peer", "url", u, "err", err)
	}
	p.loggedErr = p.lastErr
	if !connected {
		p.next++ // try the peer's next URL
	}
}

func (p *peer) observeRTT(d time.Duration) {
	p.mu.Lock()
	p.latency.observe(d)
	p.mu.Unlock()
}

func (p *peer) status() PeerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerStatus{
		ID:          p.id,
		URLs:        slices.Clone(p.urls),
		Connected:   p.connURL != "",
		URL:         p.connURL,
		ActiveSince: p.activeSince,
		Latency:     p.latency.summary(),
		Counts:      Counts{Fail: p.fail.Load(), Success: p.success.Load()},
		Batches:     p.batches.Load(),
		LastError:   p.lastErr,
	}
}
