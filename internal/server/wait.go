package server

import (
	"sync"
	"time"

	"github.com/arbor-kv/arbor/internal/store"
)

type result struct {
	ev  *store.Event
	err error
}

// waitRegistry maps the IDs of this member's proposals to their callers.
type waitRegistry struct {
	mu sync.Mutex
	m  map[uint64]waiter // guarded by mu
	// changedTerm and changedErr are the last leaderChanged call's: a write
	// whose term is recorded only after it (proposed) is answered then.
	changedTerm uint64 // guarded by mu
	changedErr  error  // guarded by mu
}

type waiter struct {
	ch    chan result // buffered: a trigger never blocks
	since time.Time
	// term is the Raft term the write was proposed in (0: not yet).
	term uint64
}

func newWaitRegistry() *waitRegistry { return &waitRegistry{m: make(map[uint64]waiter)} }

func (w *waitRegistry) register(id uint64) <-chan result {
	ch := make(chan result, 1)
	now := time.Now()
	w.mu.Lock()
	w.m[id] = waiter{ch: ch, since: now}
	w.mu.Unlock()
	return ch
}

// trigger delivers r to the waiter of id, if it is still waiting here.
func (w *waitRegistry) trigger(id uint64, r result) {
	w.mu.Lock()
	wt, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		wt.ch <- r
	}
}

// expire answers err to every waiter registered before cutoff.
func (w *waitRegistry) expire(cutoff time.Time, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, wt := range w.m {
		if wt.since.Before(cutoff) {
			wt.ch <- result{err: err}
			delete(w.m, id)
		}
	}
}

// proposed records that the writes ids went to Raft in term. A write of a
// term older than one whose leader's first entry was already applied is
// answered as leaderChanged would have: its term came too late for it.
func (w *waitRegistry) proposed(ids []uint64, term uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		wt, ok := w.m[id]
		switch {
		case !ok:
		case term < w.changedTerm:
			wt.ch <- result{err: w.changedErr}
			delete(w.m, id)
		default:
			wt.term = term
			w.m[id] = wt
		}
	}
}

// leaderChanged answers err to every write proposed in a term before term.
func (w *waitRegistry) leaderChanged(term uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changedTerm, w.changedErr = term, err
	for id, wt := range w.m {
		if wt.term != 0 && wt.term < term {
			wt.ch <- result{err: err}
			delete(w.m, id)
		}
	}
}

func (w *waitRegistry) cancel(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

func (w *waitRegistry) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

// appliedWait lets readers wait until the apply index reaches a target.
type appliedWait struct {
	mu      sync.Mutex
	applied uint64                     // guarded by mu
	waiters map[uint64][]chan struct{} // guarded by mu: target index → waiters
}

func newAppliedWait() *appliedWait {
	return &appliedWait{waiters: make(map[uint64][]chan struct{})}
}

// wait returns a channel closed once the applied index is >= index.
func (a *appliedWait) wait(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.applied >= index {
		close(ch)
		return ch
	}
	a.waiters[index] = append(a.waiters[index], ch)
	return ch
}

func (a *appliedWait) advance(index uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied = index
	for target, chs := range a.waiters {
		if target <= index {
			for _, ch := range chs {
				close(ch)
			}
			delete(a.waiters, target)
		}
	}
}
