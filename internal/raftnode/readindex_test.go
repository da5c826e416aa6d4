package raftnode

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

// readRecorder records ReadIndex requests.
type readRecorder struct {
	sent [][]byte
}

func (r *readRecorder) ReadIndex(rctx []byte) {
	r.sent = append(r.sent, append([]byte(nil), rctx...))
}

func startRead(ri *readIndexer) chan readResult {
	w := make(chan readResult, 1)
	ri.queue = append(ri.queue, w)
	return w
}

// A round whose request or answer was lost is sent again; an answer to any
// round of the batch, even a late one, completes it.
func TestReadIndexRetriesLostRounds(t *testing.T) {
	var ri readIndexer
	ri.init()
	rn := &readRecorder{}
	w := startRead(&ri)
	ri.send(rn.ReadIndex)
	t0 := ri.sentAt
	ri.expire(t0.Add(time.Second), 2*time.Second, time.Minute) // not yet due
	if len(rn.sent) != 1 {
		t.Fatalf("%d rounds before the timeout", len(rn.sent))
	}
	ri.expire(t0.Add(3*time.Second), 2*time.Second, time.Minute)
	if len(rn.sent) != 2 || string(rn.sent[0]) == string(rn.sent[1]) {
		t.Fatalf("rounds %v: want a second one with a new context", rn.sent)
	}
	ri.answer(raft.ReadState{Index: 42, RequestCtx: rn.sent[0]}) // the first round's late answer
	select {
	case r := <-w:
		if r.err != nil || r.index != 42 {
			t.Fatalf("result %+v", r)
		}
	default:
		t.Fatal("the late answer did not complete the batch")
	}
	// An answer to a round of an earlier batch does not complete a new one.
	w2 := startRead(&ri)
	ri.send(rn.ReadIndex)
	ri.answer(raft.ReadState{Index: 7, RequestCtx: rn.sent[1]})
	select {
	case r := <-w2:
		t.Fatalf("completed by an earlier batch's answer: %+v", r)
	default:
	}
}

// Rounds are retried until giveUp has passed since the first, then the
// batch fails.
func TestReadIndexFailsAfterGiveUp(t *testing.T) {
	var ri readIndexer
	ri.init()
	rn := &readRecorder{}
	w := startRead(&ri)
	ri.send(rn.ReadIndex)
	now := ri.sentAt
	for range 9 {
		now = now.Add(time.Second)
		ri.expire(now, 500*time.Millisecond, 10*time.Second)
	}
	if len(rn.sent) != 10 {
		t.Fatalf("%d rounds within the give-up time, want 10", len(rn.sent))
	}
	select {
	case r := <-w:
		t.Fatalf("failed before giving up: %+v", r)
	default:
	}
	ri.expire(now.Add(2*time.Second), 500*time.Millisecond, 10*time.Second)
	if r := <-w; !errors.Is(r.err, ErrReadTimeout) {
		t.Fatalf("result %+v", r)
	}
}

// Two members' rounds never share a context, even with equal sequence
// numbers (the leader ignores a read whose context it is already
// confirming, so one member's read would never be answered), and an
// answer to another member's context completes nothing.
func TestReadIndexContextsDifferAcrossMembers(t *testing.T) {
	a, b := readIndexer{member: 0xa}, readIndexer{member: 0xb}
	a.init()
	b.init()
	ra, rb := &readRecorder{}, &readRecorder{}
	wa, wb := startRead(&a), startRead(&b)
	a.send(ra.ReadIndex)
	b.send(rb.ReadIndex)
	if string(ra.sent[0]) == string(rb.sent[0]) {
		t.Fatalf("members 0xa and 0xb sent the same context %x", ra.sent[0])
	}
	if seq := binary.BigEndian.Uint64(ra.sent[0][8:]); seq != binary.BigEndian.Uint64(rb.sent[0][8:]) {
		t.Fatalf("test wants equal sequence numbers, got %d and %x", seq, rb.sent[0])
	}
	b.answer(raft.ReadState{Index: 9, RequestCtx: ra.sent[0]})
	select {
	case r := <-wb:
		t.Fatalf("member 0xb completed by 0xa's answer: %+v", r)
	default:
	}
	a.answer(raft.ReadState{Index: 9, RequestCtx: ra.sent[0]})
	if r := <-wa; r.err != nil || r.index != 9 {
		t.Fatalf("member 0xa: %+v", r)
	}
}
