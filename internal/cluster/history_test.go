package cluster

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// history records the operations of concurrent clients for porcupine.
type history struct {
	start time.Time

	mu      sync.Mutex
	ops     []porcupine.Operation // guarded by mu
	clients int                   // client IDs handed out; guarded by mu
	pending int                   // ops with an unknown outcome; guarded by mu
	dropped int                   // ops not recorded (no effect); guarded by mu
}

// outcome is how an operation ended, for the client that ran it.
type outcome uint8

const (
	answered outcome = iota // recorded with its result
	unknown                 // recorded as possibly applied
	dropped                 // not recorded: it cannot have had an effect
)

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

// newClient hands out a visualisation lane. A client whose operation
// ended ambiguously moves to a new lane, as its old one stays open.
func (h *history) newClient() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients++
	return h.clients - 1
}

// unknownReturn marks an operation whose outcome is unknown; finish
// replaces it with a time after every other operation.
const unknownReturn = math.MaxInt64

func (h *history) add(client int, in kvInput, call, ret int64, out kvOutput) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if out.unknown {
		ret = unknownReturn
		h.pending++
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// finish returns the operations, ambiguous ones ending after all others.
func (h *history) finish() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last int64
	for _, op := range h.ops {
		if op.Return != unknownReturn {
			last = max(last, op.Return)
		}
	}
	out := make([]porcupine.Operation, len(h.ops))
	for i, op := range h.ops {
		if op.Return == unknownReturn {
			op.Return = last + 1
		}
		out[i] = op
	}
	return out
}

// do runs one operation on member m and records it, unless it cannot
// have had an effect (a read that failed, a request a stopped member
// refused).
func (h *history) do(ctx context.Context, client int, m *Member, in kvInput) (outcome, kvOutput) {
	var out kvOutput
	call := h.now()
	var r Response
	switch in.kind {
	case opGet:
		r = m.Get(ctx, in.key, true)
	case opSet:
		r = m.Put(ctx, in.key, in.value, nil)
	case opCAS:
		r = m.Put(ctx, in.key, in.value, url.Values{"prevValue": {in.prev}})
	}
	ret := h.now()
	switch {
	case r.Err != nil && errors.Is(r.Err, syscall.ECONNREFUSED):
		return h.drop(), out // the member is down: nothing was sent
	case in.kind == opGet:
		switch {
		case r.OK():
			out.value = r.Value
		case r.Status == http.StatusNotFound && r.Code == 100:
			// missing: ""
		default:
			return h.drop(), out // a failed read changes nothing
		}
	case r.OK():
		out.ok = true
	case in.kind == opCAS && (r.Code == 101 || r.Code == 100):
		// compare failed, or no such key: definitely not applied
	default:
		out.unknown = true
	}
	h.add(client, in, call, ret, out)
	if out.unknown {
		return unknown, out
	}
	return answered, out
}

func (h *history) drop() outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropped++
	return dropped
}

// outcomes counts the recorded operations with a definite answer, those
// with an unknown one, and those not recorded.
func (h *history) outcomes() (answered, unknown, dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops) - h.pending, h.pending, h.dropped
}

// check runs porcupine over the history and fails the test on a
// violation, saving the visualisation in the test's artifact directory
// (kept with go test -artifacts).
func (h *history) check(t *testing.T) {
	t.Helper()
	ops := h.finish()
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, 2*time.Minute)
	t.Logf("porcupine: %s for %d operations (%d with unknown outcome) in %v", res, len(ops), h.pending, time.Since(start).Round(time.Millisecond))
	if res == porcupine.Ok {
		return
	}
	path := filepath.Join(t.ArtifactDir(), "linearizability.html")
	if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
		t.Errorf("visualize: %v", err)
	}
	if res == porcupine.Illegal {
		t.Fatalf("history is not linearizable; visualisation in %s", path)
	}
	t.Fatalf("porcupine could not decide (%s) within its time limit; visualisation in %s", res, path)
}
