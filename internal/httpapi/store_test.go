package httpapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/arbor-kv/arbor/internal/store"
)

// storeBackend applies requests straight to a real store, synchronously and
// without Raft: what a one-member cluster does, minus the log. Each write
// takes one Raft index, so X-Raft-Index is predictable.
type storeBackend struct {
	mu        sync.Mutex // serialises Apply, as the one apply goroutine would; guards raftIndex
	st        *store.Store
	raftIndex uint64
	now       func() time.Time
}

func newStoreBackend(cfg store.Config) *storeBackend {
	return &storeBackend{st: store.New(cfg), now: func() time.Time { return testNow }}
}

func (b *storeBackend) Write(_ context.Context, r *store.Request) (*store.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.raftIndex++
	return b.st.Apply(r)
}

func (b *storeBackend) Get(_ context.Context, path string, recursive, sorted, _ bool) (*store.Event, error) {
	return b.st.Read(path, recursive, sorted, b.now())
}

func (b *storeBackend) Watch(path string, recursive, stream bool, since uint64) (*store.Watcher, error) {
	return b.st.Watch(path, recursive, stream, since)
}

func (b *storeBackend) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Status{StoreIndex: b.st.Index(), RaftIndex: b.raftIndex, RaftTerm: 2, ClusterID: 0x89398061cc3f6cb, LeaderID: 1}
}

func (b *storeBackend) StoreStats() store.Stats  { return b.st.Stats() }
func (b *storeBackend) SelfStats() any           { return map[string]string{"name": "test"} }
func (b *storeBackend) LeaderStats() (any, bool) { return nil, false }
func (b *storeBackend) Members() []Member        { return nil }

var errNoMembership = errors.New("the store backend has no membership")

func (b *storeBackend) MemberAdd(context.Context, []string) (Member, error) {
	return Member{}, errNoMembership
}
func (b *storeBackend) MemberRemove(context.Context, uint64) error           { return errNoMembership }
func (b *storeBackend) MemberUpdate(context.Context, uint64, []string) error { return errNoMembership }
func (b *storeBackend) Health(context.Context) error                         { return nil }

func (b *storeBackend) watchers() uint64 { return b.st.Stats().Watchers }
