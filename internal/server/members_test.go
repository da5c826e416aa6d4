package server

import (
	"slices"
	"testing"
)

func TestMembershipSnapshotRecordKeepsRemovedIDs(t *testing.T) {
	ms := newMembership()
	ms.put(memberRecord{ID: 1, Name: "a", PeerURLs: []string{"http://127.0.0.1:1"}})
	ms.put(memberRecord{ID: 2, Name: "b"})
	ms.put(memberRecord{ID: 3, Name: "c"})
	ms.remove(3)

	restored := newMembership()
	if err := restored.restore(ms.encode()); err != nil {
		t.Fatal(err)
	}
	if got, want := restored.list(), ms.list(); !slices.EqualFunc(got, want, sameMember) {
		t.Fatalf("members after restore: %+v, want %+v", got, want)
	}
	if !restored.wasRemoved(3) {
		t.Fatal("removed member 3 is not known as removed after a restore")
	}
	if restored.wasRemoved(1) || restored.wasRemoved(2) {
		t.Fatal("a current member is known as removed after a restore")
	}
}

func TestMembershipRestoreOlderRecordAndUnion(t *testing.T) {
	ms := newMembership()
	ms.remove(7) // learned from the log before the snapshot arrived
	ms.remove(2) // the record lists 2 as a member: the record wins
	legacy := []byte(`[{"id":1,"name":"a","peerURLs":["http://127.0.0.1:1"],"clientURLs":[]},{"id":2,"name":"b","peerURLs":[],"clientURLs":[]}]`)
	if err := ms.restore(legacy); err != nil {
		t.Fatal(err)
	}
	if names := memberNames(ms.list()); !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("members from an array record: %v", names)
	}
	if !ms.wasRemoved(7) {
		t.Fatal("a restore forgot an ID removed before it")
	}
	if ms.wasRemoved(2) {
		t.Fatal("a member the record lists is still known as removed")
	}

	if err := ms.restore([]byte(`{"members":[{"id":1,"name":"a"}],"removed":[9]}`)); err != nil {
		t.Fatal(err)
	}
	if !ms.wasRemoved(9) || !ms.wasRemoved(7) {
		t.Fatal("removed IDs of the record and of before are not both kept")
	}
	for _, bad := range []string{`{"members":`, `[{"id":"x"}]`} {
		if err := newMembership().restore([]byte(bad)); err == nil {
			t.Fatalf("restore(%q) succeeded", bad)
		}
	}
	if err := newMembership().restore(nil); err != nil {
		t.Fatalf("restore(nil): %v", err)
	}
}

func sameMember(a, b memberRecord) bool {
	return a.ID == b.ID && a.Name == b.Name && slices.Equal(a.PeerURLs, b.PeerURLs) &&
		slices.Equal(a.ClientURLs, b.ClientURLs) && a.Learner == b.Learner
}

func memberNames(ms []memberRecord) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}
