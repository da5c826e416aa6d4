package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// linClients run set, compare-and-swap and quorum get operations on a few
// keys against random members, recording them in h, until stop is set.
// Keys change every keyEpoch so that each key's history, and the work of
// checking it, stays small however long the test runs.
func linClients(c *Cluster, h *history, n int, seed uint64, stop *atomic.Bool) *sync.WaitGroup {
	const keysPerEpoch, keyEpoch = 3, 2 * time.Second
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			client := h.newClient()
			seen := map[string]string{} // key → a value this client wrote or read
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("/lin/e%d/k%d", time.Since(h.start)/keyEpoch, rng.IntN(keysPerEpoch))
				in := kvInput{key: key, value: fmt.Sprintf("c%d-%d", w, i)}
				switch p := rng.IntN(10); {
				case p < 4:
					in.kind = opGet
				case p < 7 || seen[key] == "":
					in.kind = opSet
				default:
					in.kind, in.prev = opCAS, seen[key]
				}
				m := c.Member(rng.IntN(c.Size()))
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				res, out := h.do(ctx, client, m, in)
				cancel()
				switch {
				case res == unknown:
					client = h.newClient()
					time.Sleep(10 * time.Millisecond) // an unreachable member answers slowly anyway
				case res == dropped:
				case in.kind == opGet && out.value != "":
					seen[key] = out.value
				case in.kind == opSet || (in.kind == opCAS && out.ok):
					seen[key] = in.value
				}
			}
		})
	}
	return &wg
}

// nemesis injects one random fault, holds it for a while, and repairs it.
type nemesis struct {
	c     *Cluster
	rng   *rand.Rand
	start time.Time
	log   []string
}

func (n *nemesis) note(format string, args ...any) {
	n.log = append(n.log, fmt.Sprintf("%6.2fs ", time.Since(n.start).Seconds())+fmt.Sprintf(format, args...))
}

func (n *nemesis) hold() {
	et := n.c.Options().ElectionTimeout()
	time.Sleep(et/2 + time.Duration(n.rng.Int64N(int64(4*et))))
}

func (n *nemesis) round() {
	c := n.c
	lead := c.Leader()
	switch n.rng.IntN(7) {
	case 0: // the leader in a minority (with one follower of five)
		if lead < 0 {
			return
		}
		minority := []int{lead}
		if c.Size() >= 5 {
			minority = append(minority, (lead+1)%c.Size())
		}
		n.note("partition leader %s into a minority of %d", c.Member(lead).Name, len(minority))
		c.Partition(minority...)
		n.hold()
		c.Heal()
	case 1: // any member cut off
		i := n.rng.IntN(c.Size())
		n.note("partition %s", c.Member(i).Name)
		c.Partition(i)
		n.hold()
		c.Heal()
	case 2: // the leader stops (a crash, as far as its peers can tell)
		if lead < 0 {
			return
		}
		n.note("stop leader %s", c.Member(lead).Name)
		c.Stop(lead)
		n.hold()
		n.note("restart %s", c.Member(lead).Name)
		c.Restart(lead)
	case 3: // a follower stops
		i := (max(lead, 0) + 1 + n.rng.IntN(c.Size()-1)) % c.Size()
		n.note("stop %s", c.Member(i).Name)
		c.Stop(i)
		n.hold()
		n.note("restart %s", c.Member(i).Name)
		c.Restart(i)
	case 4: // lossy, slow links
		nw := c.Network()
		for range 3 {
			from, to := uint64(1+n.rng.IntN(c.Size())), uint64(1+n.rng.IntN(c.Size()))
			if from == to {
				continue
			}
			if n.rng.IntN(2) == 0 {
				nw.Drop(from, to, 0.05+n.rng.Float64()*0.2)
			} else {
				nw.Delay(from, to, time.Duration(1+n.rng.IntN(50))*time.Millisecond)
			}
		}
		n.note("drop/delay links")
		n.hold()
		c.Heal()
	case 5: // one-way links: a member that hears but is not heard, or the reverse
		nw := c.Network()
		for range 1 + n.rng.IntN(3) {
			from, to := uint64(1+n.rng.IntN(c.Size())), uint64(1+n.rng.IntN(c.Size()))
			if from != to {
				nw.Block(from, to)
				n.note("block m%d → m%d", from-1, to-1)
			}
		}
		n.hold()
		c.Heal()
	case 6: // no quorum at all: a follower stops and the leader is cut off
		if lead < 0 {
			return
		}
		i := (lead + 1) % c.Size()
		n.note("stop %s, partition leader %s", c.Member(i).Name, c.Member(lead).Name)
		c.Stop(i)
		c.Partition(lead)
		n.hold()
		c.Heal()
		n.note("restart %s", c.Member(i).Name)
		c.Restart(i)
	}
	n.note("healed")
	time.Sleep(time.Duration(n.rng.Int64N(int64(2 * c.Options().ElectionTimeout()))))
}

// Concurrent clients set, compare-and-swap and quorum-read a few keys on
// random members while the leader is partitioned away, members stop and
// restart, and links drop and delay traffic; porcupine then checks that
// the history is linearizable, taking every write without a definite
// answer as possibly applied. The last operations, after healing, are a
// quorum read of every key on every member, so a member that diverged is
// caught too.
func TestLinearizableUnderFaults(t *testing.T) {
	t.Run("3 members", func(t *testing.T) { linearizableUnderFaults(t, 3) })
	if os.Getenv(BudgetEnv) != "" {
		t.Run("5 members", func(t *testing.T) { linearizableUnderFaults(t, 5) })
	}
}

func linearizableUnderFaults(t *testing.T, size int) {
	c := New(t, Options{Size: size, SnapshotCount: 100})
	h := newHistory()
	rng := newRand(t)
	var stop atomic.Bool
	clients := linClients(c, h, 6, rng.Uint64(), &stop)
	n := &nemesis{c: c, rng: rng, start: h.start}
	end := time.Now().Add(FaultBudget(t, 3*time.Second))
	for time.Now().Before(end) {
		n.round()
	}
	stop.Store(true)
	clients.Wait()
	t.Logf("faults:\n%s", joinLines(n.log))

	if _, err := c.WaitLeader(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.WaitHealthy(10 * time.Second)
	final := h.newClient()
	for _, key := range h.keys() {
		for _, m := range c.Members() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, _ := h.do(ctx, final, m, kvInput{kind: opGet, key: key})
			cancel()
			if res != answered {
				t.Fatalf("final quorum read of %s on %s failed", key, m.Name)
			}
		}
	}
	c.WaitConverged(20 * time.Second)
	ok, unsure, none := h.outcomes()
	t.Logf("%d operations answered, %d writes with unknown outcome, %d failed reads or refused requests not recorded", ok, unsure, none)
	if ok < 20 {
		t.Fatalf("only %d operations answered: the clients hardly ran", ok)
	}
	h.check(t)
}

func joinLines(lines []string) string {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	return string(b)
}

// keys lists the keys the history touched, sorted.
func (h *history) keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for _, op := range h.ops {
		if k := op.Input.(kvInput).key; !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
