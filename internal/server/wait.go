package server

import (
	"sync"

	"github.com/arbor-kv/arbor/internal/store"
)

type result struct {
	ev  *store.Event
	err error
}

// waitRegistry maps the IDs of this member's proposals to their callers.
type waitRegistry struct {
	mu sync.Mutex
	m  map[uint64]chan result // guarded by mu
}

func newWaitRegistry() *waitRegistry { return &waitRegistry{m: make(map[uint64]chan result)} }

func (w *waitRegistry) register(id uint64) <-chan result {
	ch := make(chan result, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

// trigger delivers r to the waiter of id, if it is still waiting here.
func (w *waitRegistry) trigger(id uint64, r result) {
	w.mu.Lock()
	ch, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		ch <- r
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
