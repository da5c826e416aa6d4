package store

import (
	"sync/atomic"
	"time"
)

// Method says what a Request does. Values are part of the log format: never
// renumber them.
type Method uint8

const (
	MethodPut    Method = 1 // set, create, update, compareAndSwap (by the prev* fields)
	MethodPost   Method = 2 // create an in-order key under Path
	MethodDelete Method = 3 // delete or compareAndDelete
	// MethodSync carries the leader's clock in Time: every node whose
	// expiration is not after Time expires, in key order, each with its own
	// "expire" event and index.
	MethodSync Method = 4
	// MethodExtend is proposed by a new leader before anything else: every
	// pending expiration moves later by (Time - time of the last applied
	// Sync), the span in which no leader could expire or refresh keys.
	MethodExtend Method = 5
)

// Request is one write, exactly as it travels through the Raft log and is
// applied on every member. Decoding, validation of HTTP parameters and the
// TTL-to-expiration conversion happen before a Request is built; applying it
// is deterministic given the store's state.
type Request struct {
	ID        uint64 // proposal ID, for the proposer's wait registry
	Method    Method
	Path      string // cleaned absolute key path, e.g. "/foo/bar"
	Val       string
	Dir       bool
	PrevValue string
	PrevIndex uint64
	// PrevExist: nil means not given; otherwise prevExist=true/false.
	PrevExist *bool
	// Expiration is the absolute expiry in Unix nanoseconds; 0 is permanent.
	Expiration int64
	Refresh    bool
	Recursive  bool
	// Time is the proposer's clock (Unix nanoseconds) when the request was
	// made. Apply uses it to compute the "ttl" shown in the result event;
	// for MethodSync and MethodExtend it is the leader's time.
	Time int64
}

// Action names, as they appear in the "action" field on the wire.
const (
	ActionGet              = "get"
	ActionSet              = "set"
	ActionCreate           = "create"
	ActionUpdate           = "update"
	ActionDelete           = "delete"
	ActionCompareAndSwap   = "compareAndSwap"
	ActionCompareAndDelete = "compareAndDelete"
	ActionExpire           = "expire"
)

// NodeExtern is a node as the v2 API shows it. Field order and tags are the
// wire format (etcd omits a zero key for the root, "dir":false, ttl 0 and
// zero indexes).
type NodeExtern struct {
	Key           string        `json:"key,omitempty"`
	Value         *string       `json:"value,omitempty"`
	Dir           bool          `json:"dir,omitempty"`
	Expiration    *time.Time    `json:"expiration,omitempty"`
	TTL           int64         `json:"ttl,omitempty"`
	Nodes         []*NodeExtern `json:"nodes,omitempty"`
	ModifiedIndex uint64        `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64        `json:"createdIndex,omitempty"`
}

// Event is the result of an operation, and what watchers receive. Events are
// immutable once created: the history and every watcher share them.
type Event struct {
	Action   string      `json:"action"`
	Node     *NodeExtern `json:"node,omitempty"`
	PrevNode *NodeExtern `json:"prevNode,omitempty"`
	// EtcdIndex is the store index right after this event (X-Etcd-Index).
	EtcdIndex uint64 `json:"-"`
	// Refresh is set for a TTL refresh; refreshes are not sent to watchers.
	Refresh bool `json:"-"`

	// list, when set, holds Node's children, encoded by AppendJSON (Read).
	list *listing

	// encoded caches Encode's result. Events are shared by pointer and
	// must not be copied by value.
	encoded atomic.Pointer[[]byte]
}

// Index is the index at which the event happened.
func (e *Event) Index() uint64 { return e.Node.ModifiedIndex }

// Stats are the store's operation counters, with etcd's names
// (/v2/stats/store).
type Stats struct {
	GetSuccess              uint64 `json:"getsSuccess"`
	GetFail                 uint64 `json:"getsFail"`
	SetSuccess              uint64 `json:"setsSuccess"`
	SetFail                 uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                uint64 `json:"watchers"`
}
