package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// snapshotAnswerTimeout bounds the wait for the receiver's answer once the
// whole body is sent: it stores the body durably before it answers.
const snapshotAnswerTimeout = time.Minute

var errSnapshotStalled = errors.New("transport: snapshot transfer made no progress within the idle timeout")

// startSnapshot starts sending a MsgSnap on its own request, beside the
// stream. It reports false if it cannot (no Snapshots, or one already
// running: Raft sends one at a time per peer). Called under the
// transport's read lock, like send.
func (p *peer) startSnapshot(m raftpb.Message) bool {
	if p.t.cfg.Snapshots == nil {
		p.log.Error("transport: cannot send a snapshot: no snapshot source configured")
		return false
	}
	p.mu.Lock()
	busy := p.snapshotting
	p.snapshotting = true
	p.mu.Unlock()
	if busy {
		p.log.Warn("transport: snapshot to peer already in flight; dropping another", "index", m.Snapshot.Metadata.Index)
		return false
	}
	p.wg.Add(1)
	go p.runSnapshot(m)
	return true
}

// runSnapshot sends one snapshot and tells Raft how it went.
func (p *peer) runSnapshot(m raftpb.Message) {
	defer p.wg.Done()
	start := time.Now()
	u := p.pickURL()
	sent, err := p.sendSnapshot(u, m)
	p.mu.Lock()
	p.snapshotting = false
	p.mu.Unlock()
	index := m.Snapshot.Metadata.Index
	if err != nil {
		p.fail.Add(1)
		p.log.Warn("transport: sending snapshot to peer failed", "url", u, "index", index, "sent_bytes", sent, "err", err)
		p.t.cfg.Raft.ReportUnreachable(p.id)
		p.t.cfg.Raft.ReportSnapshot(p.id, raft.SnapshotFailure)
		return
	}
	p.success.Add(1)
	p.log.Info("transport: snapshot sent to peer", "url", u, "index", index, "bytes", sent, "took", time.Since(start))
	p.t.cfg.Raft.ReportSnapshot(p.id, raft.SnapshotFinish)
}

// sendSnapshot posts the message frame followed by the body, streamed from
// the snapshot source, and returns how many body bytes were sent.
func (p *peer) sendSnapshot(u string, m raftpb.Message) (int64, error) {
	src, err := p.t.cfg.Snapshots.OpenSnapshot(m)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	head, err := appendMessage(nil, &m, m.Size())
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancelCause(p.ctx)
	defer cancel(nil)
	idle := p.t.cfg.IdleTimeout
	watchdog := time.AfterFunc(idle, func() { cancel(errSnapshotStalled) })
	defer watchdog.Stop()
	body := &snapshotBody{
		r:      io.MultiReader(bytes.NewReader(head), src),
		closed: make(chan struct{}),
		// Reads stop when the network does (the client writes what it
		// read before it reads more), so they measure progress.
		progress: func(eof bool) {
			if eof {
				watchdog.Reset(snapshotAnswerTimeout)
			} else {
				watchdog.Reset(idle)
			}
		},
	}
	err = p.postSnapshot(ctx, u, body)
	cancel(err)
	// The client may still be reading the body after Do returns; src must
	// stay open until it closed the body.
	<-body.closed
	sent := max(body.n.Load()-int64(len(head)), 0)
	return sent, causeOf(ctx, err)
}

func (p *peer) postSnapshot(ctx context.Context, u string, body *snapshotBody) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+SnapshotPath, body)
	if err != nil {
		body.Close()
		return err
	}
	req.ContentLength = -1
	p.t.setHeaders(req.Header, p.id)
	resp, err := p.t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return rejection(resp)
	}
	return nil
}

// snapshotBody is a snapshot request's body: it reports progress and
// tells when the HTTP client is done with it.
type snapshotBody struct {
	r        io.Reader
	n        atomic.Int64 // bytes read
	progress func(eof bool)
	closed   chan struct{}
	once     sync.Once
}

func (b *snapshotBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	b.progress(err == io.EOF)
	return n, err
}

func (b *snapshotBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}
