package server

import (
	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/store"
)

// ApplyEntry applies one committed log entry to st as a member's apply loop
// does, for tools that rebuild a member's store offline from its snapshot
// and WAL (arborctl backup). Store errors (a failed compare, say) are part
// of the log's outcome and are not returned. Conf changes and a new
// leader's empty entry carry no store state and are skipped. An error means
// the entry could not be decoded; the apply loop skips such an entry with a
// log line, so a replay that wants the same state should do the same.
func ApplyEntry(st *store.Store, e raftpb.Entry) error {
	if e.Type != raftpb.EntryNormal {
		return nil
	}
	return applyRequests(st, e.Data, nil)
}

// applyRequests applies the requests of a normal entry's data to st in
// order and hands each outcome to done (when not nil). The apply loop and
// ApplyEntry share it, so a replay reaches the very state a member does.
func applyRequests(st *store.Store, data []byte, done func(r *store.Request, ev *store.Event, err error)) error {
	if len(data) == 0 {
		return nil // a new leader's empty entry
	}
	reqs, err := decodeBatch(data)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		ev, err := st.Apply(r)
		if done != nil {
			done(r, ev, err)
		}
	}
	return nil
}
