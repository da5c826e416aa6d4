package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

// readRecorder is a raft.Node that only records ReadIndex requests.
type readRecorder struct {
	raft.Node // nil: any other method panics
	sent      [][]byte
}

func (r *readRecorder) ReadIndex(_ context.Context, rctx []byte) error {
	r.sent = append(r.sent, append([]byte(nil), rctx...))
	return nil
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
	ri.send(rn)
	t0 := ri.sentAt
	ri.expire(t0.Add(time.Second), 2*time.Second) // not yet due
	if len(rn.sent) != 1 {
		t.Fatalf("%d rounds before the timeout", len(rn.sent))
	}
	ri.expire(t0.Add(3*time.Second), 2*time.Second)
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
	ri.send(rn)
	ri.answer(raft.ReadState{Index: 7, RequestCtx: rn.sent[1]})
	select {
	case r := <-w2:
		t.Fatalf("completed by an earlier batch's answer: %+v", r)
	default:
	}
}

func TestReadIndexFailsAfterAllRounds(t *testing.T) {
	var ri readIndexer
	ri.init()
	rn := &readRecorder{}
	w := startRead(&ri)
	ri.send(rn)
	now := ri.sentAt
	for i := 0; i < readTries; i++ {
		now = now.Add(time.Minute)
		ri.expire(now, time.Second)
	}
	if len(rn.sent) != readTries {
		t.Fatalf("%d rounds, want %d", len(rn.sent), readTries)
	}
	if r := <-w; !errors.Is(r.err, ErrReadTimeout) {
		t.Fatalf("result %+v", r)
	}
	if seq := binary.BigEndian.Uint64(rn.sent[readTries-1]); seq != uint64(readTries) {
		t.Fatalf("last round's sequence %d", seq)
	}
}
