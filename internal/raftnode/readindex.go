package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
)

// ErrReadTimeout is returned when no leader confirmed a read in time (no
// quorum, or an election in progress). The read may be retried.
var ErrReadTimeout = errors.New("raftnode: timed out waiting for read index")

// ReadIndex returns a commit index that is at least the index of every write
// acknowledged before the call, confirmed by a quorum. Serving a read after
// the apply index reaches it is linearizable. Concurrent calls share one
// Raft round.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	w := make(chan readResult, 1)
	n.reads.mu.Lock()
	n.reads.queue = append(n.reads.queue, w)
	n.reads.mu.Unlock()
	signal(n.reads.pending)
	select {
	case r := <-w:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

type readResult struct {
	index uint64
	err   error
}

// readIndexer batches ReadIndex calls. The Ready loop owns inflight; the
// queue is shared with callers under mu.
type readIndexer struct {
	mu    sync.Mutex
	queue []chan readResult // guarded by mu: waiting for the next round

	pending chan struct{} // signalled when queue became non-empty

	// member is this member's ID, the first half of every round's
	// context. The leader ignores a read whose context equals one it is
	// still confirming, so two members' rounds must never share one.
	member uint64

	// Owned by the Ready loop.
	seq         uint64
	inflight    []chan readResult
	sentAt      time.Time         // the latest round of inflight
	firstSentAt time.Time         // its first round
	firstSeq    uint64            // the first round of inflight
	ask         func(rctx []byte) // asks Raft for a read index; set by send
}

func (r *readIndexer) init() { r.pending = make(chan struct{}, 1) }

// send starts a round for everything queued, unless one is in flight.
func (r *readIndexer) send(ask func(rctx []byte)) {
	if r.inflight != nil {
		return // answer() starts the next round
	}
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	r.inflight, r.ask, r.firstSeq = batch, ask, r.seq+1
	r.sendRound()
	r.firstSentAt = r.sentAt
}

// sendRound asks Raft for a read index for the batch in flight, under a
// new sequence number (a late answer to an older round is ignored).
func (r *readIndexer) sendRound() {
	r.seq++
	r.sentAt = time.Now()
	var rctx [16]byte
	binary.BigEndian.PutUint64(rctx[:8], r.member)
	binary.BigEndian.PutUint64(rctx[8:], r.seq)
	// Called by the Ready loop, which takes the Ready that carries the
	// request on its next turn.
	r.ask(rctx[:])
}

// answer delivers a ReadState to the round it belongs to.
func (r *readIndexer) answer(rs raft.ReadState) {
	if r.inflight == nil || len(rs.RequestCtx) != 16 || binary.BigEndian.Uint64(rs.RequestCtx[:8]) != r.member {
		return
	}
	// Any round of this batch will do, even one that was retried: each was
	// sent after every read of the batch had arrived.
	if seq := binary.BigEndian.Uint64(rs.RequestCtx[8:]); seq < r.firstSeq || seq > r.seq {
		return // a late answer to an earlier batch
	}
	r.finish(readResult{index: rs.Index})
}

// expire sends a new round for a batch whose latest round got no answer
// within retry (a round's request or answer can be lost: a peer stream
// reconnecting, a leader change; a fresh round usually succeeds, and an
// answer to any round completes the batch), and fails the batch once
// giveUp has passed since its first round (e.g. the leader lost its
// quorum), so callers do not hang.
func (r *readIndexer) expire(now time.Time, retry, giveUp time.Duration) {
	if r.inflight == nil || now.Sub(r.sentAt) <= retry {
		return
	}
	if now.Sub(r.firstSentAt) > giveUp {
		r.finish(readResult{err: ErrReadTimeout})
		return
	}
	r.sendRound()
}

func (r *readIndexer) finish(res readResult) {
	for _, w := range r.inflight {
		w <- res // buffered, one result per waiter
	}
	r.inflight = nil
	r.mu.Lock()
	more := len(r.queue) > 0
	r.mu.Unlock()
	if more {
		signal(r.pending)
	}
}

// fail ends every waiting read with err (at Stop).
func (r *readIndexer) fail(err error) {
	r.finish(readResult{err: err})
	r.mu.Lock()
	q := r.queue
	r.queue = nil
	r.mu.Unlock()
	for _, w := range q {
		w <- readResult{err: err}
	}
}
