package server

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-kv/arbor/internal/store"
)

func TestApplyEntryReplaysTheLog(t *testing.T) {
	no := false
	var b batchEncoder
	b.reset()
	b.add(&store.Request{Method: store.MethodPut, Path: "/a", Val: "1"})
	b.add(&store.Request{Method: store.MethodPut, Path: "/a", Val: "2", PrevExist: &no}) // fails: 105
	b.add(&store.Request{Method: store.MethodPut, Path: "/d/_hidden", Val: "h"})
	cc, err := (&raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: 7}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(store.Config{})
	for _, e := range []raftpb.Entry{
		{Index: 1, Type: raftpb.EntryConfChange, Data: cc},
		{Index: 2, Type: raftpb.EntryNormal}, // a new leader's empty entry
		{Index: 3, Type: raftpb.EntryNormal, Data: b.entry()},
	} {
		if err := ApplyEntry(st, e); err != nil {
			t.Fatalf("entry %d: %v", e.Index, err)
		}
	}
	// Two successful writes (a set and the hidden key's), the failed create
	// leaves the index alone.
	if st.Index() != 2 {
		t.Fatalf("store index %d, want 2", st.Index())
	}
	ev, err := st.Get("/a", false, false, time.Now())
	if err != nil || *ev.Node.Value != "1" {
		t.Fatalf("/a = %+v, %v", ev, err)
	}
	if err := ApplyEntry(st, raftpb.Entry{Index: 4, Type: raftpb.EntryNormal, Data: []byte{0x7f}}); !errors.Is(err, errBadEntry) {
		t.Fatalf("undecodable entry: %v, want errBadEntry", err)
	}
}
