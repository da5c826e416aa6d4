package clientv2

import (
	"slices"
	"testing"

	etcdclient "go.etcd.io/etcd/client/v2"
)

// The members API lists the one member with the name and client URL it
// was started with, names it leader, and the client's Sync (which every
// etcd v2 program runs to find the cluster) ends with that URL.
func TestMembers(t *testing.T) {
	s, c := startArbor(t)
	ctx := testContext(t)
	mapi := etcdclient.NewMembersAPI(c)

	members, err := mapi.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 {
		t.Fatalf("members: %+v, want one", members)
	}
	m := members[0]
	if m.ID == "" || m.Name != memberName || !slices.Equal(m.ClientURLs, []string{s.URL}) || len(m.PeerURLs) != 1 {
		t.Errorf("member %+v, want name %q and client URL %s", m, memberName, s.URL)
	}
	leader, err := mapi.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leader.ID != m.ID || leader.Name != memberName {
		t.Errorf("leader %+v, want %+v", leader, m)
	}

	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if eps := c.Endpoints(); !slices.Equal(eps, []string{s.URL}) {
		t.Errorf("endpoints after sync: %v, want [%s]", eps, s.URL)
	}
}
