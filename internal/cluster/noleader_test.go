package cluster

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A write to a member that has no leader fails with error 301 within a few
// election timeouts, instead of holding it (and every write behind it)
// until the request timeout; once the member is back, writes go through.
func TestWriteWithoutLeaderFailsFast(t *testing.T) {
	c := New(t, Options{RequestTimeout: 20 * time.Second})
	leader, err := c.WaitLeader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cut := (leader + 1) % c.Size()
	c.Partition(cut)
	m := c.Member(cut)
	// Let the cut member notice: CheckQuorum/PreVote drop its leader.
	time.Sleep(3 * c.Options().ElectionTimeout())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	r := m.Put(ctx, "/cut", "x", nil)
	took := time.Since(start)
	if r.Err != nil || r.Status != http.StatusInternalServerError || r.Code != 301 {
		t.Fatalf("write on the cut-off member: %v", r)
	}
	if limit := 5 * c.Options().ElectionTimeout(); took > limit {
		t.Fatalf("the write failed after %v, want within %v", took, limit)
	}
	t.Logf("failed after %v: %v", took.Round(time.Millisecond), r)

	c.Heal()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := m.Put(ctx, "/cut", "y", nil)
		if r.OK() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after healing: %v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
