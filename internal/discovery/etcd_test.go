package discovery

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/client"
	"github.com/arbor-kv/arbor/internal/testutil"
)

// startEtcd runs a single-member etcd with the v2 API on two free
// loopback ports until the test ends and returns its client URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	return testutil.StartEtcd(t, testutil.EtcdMember{Name: "disco", Token: "discovery-test"}, testutil.FreePort(t), testutil.FreePort(t),
		"this test uses a real etcd as the discovery service")
}

// etcd 3.4 as the discovery service: a token made by NewHandler over
// etcd's keys API forms a cluster of three, refuses a fourth, and holds
// the registrations in etcd 2's format.
func TestJoinAgainstEtcd(t *testing.T) {
	base := startEtcd(t)
	tokenURL := newTokenFrom(t, base, "3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := foundThree(ctx, t, tokenURL)

	_, err := Join(ctx, member(t, tokenURL, 4))
	var used *UsedTokenError
	if !errors.As(err, &used) || !slices.Equal(ids(used.Members), ids(results[0].Members)) {
		t.Fatalf("fourth member: %v, want a refusal naming the founders", err)
	}

	key := tokenURL[len(base+"/v2/keys"):]
	c := keysClient(t, base)
	resp, err := c.Get(ctx, key+"/a2", client.GetOptions{})
	if err != nil || resp.Node.Value != "m2=http://127.0.0.1:17002" {
		t.Errorf("registration of m2 in etcd: %v, %v", resp, err)
	}
	if got := registrations(t, c, key); !slices.Equal(got, []string{"a1", "a2", "a3"}) {
		t.Errorf("registry in etcd: %v", got)
	}
}
