package httpapi

import (
	"context"
	"time"

	"github.com/arbor-kv/arbor/internal/store"
)

// Backend is what the HTTP API needs from the member (internal/server
// implements it). Methods are safe for concurrent use and return
// *apierr.Error for failures the client should see.
type Backend interface {
	// Write proposes r through Raft and waits until it is applied, returning
	// the store's result. The caller fills every field but ID.
	Write(ctx context.Context, r *store.Request) (*store.Event, error)
	// Get reads from the local store; with quorum it is linearizable
	// (ReadIndex, then wait for the apply index to reach it).
	Get(ctx context.Context, path string, recursive, sorted, quorum bool) (*store.Event, error)
	// Watch starts a store watcher on this member.
	Watch(path string, recursive, stream bool, sinceIndex uint64) (*store.Watcher, error)
	// Status is read for the response headers.
	Status() Status
	// StoreStats is /v2/stats/store.
	StoreStats() store.Stats
	// SelfStats is /v2/stats/self (JSON-marshalable, etcd's field names).
	SelfStats() any
	// LeaderStats is /v2/stats/leader; ok=false on a non-leader.
	LeaderStats() (stats any, ok bool)
	// Members lists the cluster's members, this one included.
	Members() []Member
	// MemberAdd adds a voting member known only by its peer URLs (it gets
	// its name when it starts); MemberRemove and MemberUpdate change one.
	// They wait until the change is applied and return ErrPeerURLExists or
	// ErrMemberNotFound (wrapped) for etcd's 409 and 404 answers.
	MemberAdd(ctx context.Context, peerURLs []string) (Member, error)
	MemberRemove(ctx context.Context, id uint64) error
	MemberUpdate(ctx context.Context, id uint64, peerURLs []string) error
	// Health is nil when the member has a leader and is serving.
	Health(ctx context.Context) error
}

// Status is the member's view for the X-Etcd-*, X-Raft-* headers.
type Status struct {
	StoreIndex uint64 // X-Etcd-Index
	RaftIndex  uint64 // X-Raft-Index (applied index)
	RaftTerm   uint64 // X-Raft-Term
	ClusterID  uint64 // X-Etcd-Cluster-ID, printed in hex
	LeaderID   uint64 // 0 when there is no leader
}

// Member is one cluster member as /v2/members and /v2/machines show it.
type Member struct {
	ID         uint64 // printed in hex
	Name       string
	PeerURLs   []string
	ClientURLs []string
}

// Clock lets tests fix the time used to turn a TTL into an expiration.
type Clock func() time.Time
