package cluster

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// waitLeaderAmong polls until a member of among leads, and returns it.
func waitLeaderAmong(t *testing.T, c *Cluster, among []int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if l := c.Leader(); slices.Contains(among, l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader among %v within %v (leader: %d)", among, within, c.Leader())
		}
		time.Sleep(c.Options().TickInterval)
	}
}

// A leader cut off with one follower in a minority of five: its clients
// get errors or time out and neither minority member answers a quorum
// read; the majority elects a leader and serves writes and quorum reads;
// after healing every member converges to the same store holding every
// acknowledged write.
func TestLeaderPartitionedIntoMinority(t *testing.T) {
	c := New(t, Options{Size: 5})
	et := c.Options().ElectionTimeout()
	load := startLoad(t, c, 8, time.Second)
	mustPut(t, c, 0, "/x", "before")
	load.waitAcked(t, 50, 10*time.Second)

	old := c.Leader()
	minority := []int{old, (old + 1) % c.Size()}
	var majority []int
	for i := range c.Size() {
		if !slices.Contains(minority, i) {
			majority = append(majority, i)
		}
	}
	c.Partition(minority...)
	cut := time.Now()

	// Clients of the minority: writes fail or time out, concurrently with
	// the majority's election.
	var wg sync.WaitGroup
	for _, i := range minority {
		for n := range 3 {
			wg.Go(func() {
				r := c.Member(i).Put(ctxTimeout(t, time.Second), "/x", fmt.Sprintf("minority-%d-%d", i, n), nil)
				if r.OK() {
					t.Errorf("write on %s, cut off in a minority, acknowledged: %v", c.Member(i).Name, r)
				}
			})
		}
	}
	lead := waitLeaderAmong(t, c, majority, 10*time.Second)
	t.Logf("majority elected %s %v after the cut (election timeout %v)", c.Member(lead).Name, time.Since(cut).Round(time.Millisecond), et)
	after := mustPut(t, c, majority[len(majority)-1], "/x", "after")
	t.Logf("majority served a write %v after the cut", time.Since(cut).Round(time.Millisecond))
	for _, i := range majority {
		if r := c.Member(i).Get(ctxTimeout(t, 5*time.Second), "/x", true); !r.OK() || r.Value != "after" {
			t.Fatalf("quorum GET /x on %s in the majority: %v", c.Member(i).Name, r)
		}
	}
	// A quorum read in the minority must not answer the old value.
	for _, i := range minority {
		r := c.Member(i).Get(ctxTimeout(t, 2*time.Second), "/x", true)
		if r.OK() && (r.Value != "after" || r.ModifiedIndex < after.ModifiedIndex) {
			t.Fatalf("stale quorum read on %s in the minority: %v (latest %v)", c.Member(i).Name, r, after)
		}
		t.Logf("quorum GET on %s in the minority: %v", c.Member(i).Name, r)
	}
	wg.Wait()
	load.waitAcked(t, 20, 10*time.Second) // the majority keeps serving the load

	c.Heal()
	healed := time.Now()
	waitLeaderAmong(t, c, []int{0, 1, 2, 3, 4}, 10*time.Second)
	load.waitAcked(t, 50, 10*time.Second)
	load.stop()
	c.WaitConverged(20 * time.Second)
	t.Logf("converged %v after healing", time.Since(healed).Round(time.Millisecond))
	load.checkAcked(t)
	for _, m := range c.Members() {
		if r := m.Get(ctxTimeout(t, 5*time.Second), "/x", true); !r.OK() || r.Value != "after" {
			t.Fatalf("quorum GET /x on %s after healing: %v", m.Name, r)
		}
	}
}

// Links that drop connections and add latency, changing every few hundred
// milliseconds, slow the cluster down but lose no acknowledged write, and
// the members converge once the links heal.
func TestLossyAndSlowLinksUnderLoad(t *testing.T) {
	c := New(t, Options{})
	nw := c.Network()
	load := startLoad(t, c, 8, 2*time.Second)
	load.waitAcked(t, 20, 10*time.Second)
	rng := newRand(t)
	ids := []uint64{1, 2, 3}
	end := time.Now().Add(FaultBudget(t, 2*time.Second))
	rounds := 0
	for time.Now().Before(end) {
		nw.Heal()
		for _, from := range ids {
			for _, to := range ids {
				if from == to {
					continue
				}
				switch rng.IntN(3) {
				case 0:
					nw.Drop(from, to, 0.02+rng.Float64()*0.1)
				case 1:
					nw.Delay(from, to, time.Duration(1+rng.IntN(30))*time.Millisecond)
				}
			}
		}
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		rounds++
	}
	acked, failed := load.counts()
	t.Logf("%d rounds of faults: %d writes acknowledged, %d failed", rounds, acked, failed)
	c.Heal()
	load.waitAcked(t, 20, 10*time.Second)
	load.stop()
	c.WaitConverged(20 * time.Second)
	load.checkAcked(t)
}

// Members stopped and restarted under load, the leader too: the others go
// on, the restarted ones keep their identities and catch up, nothing
// acknowledged is lost.
func TestStopAndRestartMembersUnderLoad(t *testing.T) {
	c := New(t, Options{SnapshotCount: 200})
	load := startLoad(t, c, 8, 2*time.Second)
	load.waitAcked(t, 50, 10*time.Second)
	ids := make([]uint64, c.Size())
	for i, m := range c.Members() {
		ids[i] = m.ID()
	}

	follower := (c.Leader() + 1) % c.Size()
	c.Stop(follower)
	load.waitAcked(t, 300, 20*time.Second) // past a snapshot: it may need one
	c.Restart(follower)
	c.WaitHealthy(20 * time.Second)

	old := c.Leader()
	c.Stop(old)
	stopped := time.Now()
	var rest []int
	for i := range c.Size() {
		if i != old {
			rest = append(rest, i)
		}
	}
	lead := waitLeaderAmong(t, c, rest, 10*time.Second)
	t.Logf("%s leads %v after the leader stopped", c.Member(lead).Name, time.Since(stopped).Round(time.Millisecond))
	load.waitAcked(t, 50, 10*time.Second)
	c.Restart(old)
	c.WaitHealthy(20 * time.Second)
	load.waitAcked(t, 50, 10*time.Second)
	load.stop()

	c.WaitConverged(20 * time.Second)
	load.checkAcked(t)
	for i, m := range c.Members() {
		if m.ID() != ids[i] {
			t.Fatalf("%s restarted as %x, was %x", m.Name, m.ID(), ids[i])
		}
	}
}
