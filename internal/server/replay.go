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
	if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
		return nil
	}
	reqs, err := decodeBatch(e.Data)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		_, _ = st.Apply(r)
	}
	return nil
}
