package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// writeLoad is clients writing fresh keys (/load/<client>/<n>) to random
// running members until stopped, remembering every write a member
// acknowledged.
type writeLoad struct {
	c      *Cluster
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	acked     map[string]string // key → value; guarded by mu
	failed    int               // writes with no or an error answer; guarded by mu
	lastAcked time.Time         // guarded by mu
}

// startLoad starts clients writers; each request times out after timeout.
func startLoad(t *testing.T, c *Cluster, clients int, timeout time.Duration) *writeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &writeLoad{c: c, cancel: cancel, acked: map[string]string{}}
	for w := range clients {
		l.wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				m := c.Member(rand.IntN(c.Size()))
				key, val := fmt.Sprintf("/load/c%d/k%d", w, n), fmt.Sprintf("v%d-%d", w, n)
				rctx, rcancel := context.WithTimeout(ctx, timeout)
				r := m.Put(rctx, key, val, nil)
				rcancel()
				l.mu.Lock()
				if r.OK() {
					l.acked[key] = val
					l.lastAcked = time.Now()
				} else {
					l.failed++
				}
				l.mu.Unlock()
				if !r.OK() {
					// A stopped or cut-off member refuses at once; do not spin.
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	t.Cleanup(l.stop) // before the cluster's cleanup, which runs later
	return l
}

// stop ends the clients and waits for them.
func (l *writeLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *writeLoad) counts() (acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.failed
}

// waitAcked polls until n more writes than now were acknowledged, or
// fails the test.
func (l *writeLoad) waitAcked(t *testing.T, n int, within time.Duration) {
	t.Helper()
	start, _ := l.counts()
	deadline := time.Now().Add(within)
	for {
		if got, _ := l.counts(); got >= start+n {
			return
		}
		if time.Now().After(deadline) {
			got, failed := l.counts()
			t.Fatalf("only %d of %d more writes acknowledged within %v (%d failed)", got-start, n, within, failed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkAcked fails the test unless every acknowledged write is in every
// running member's store (read locally, so call it once converged).
func (l *writeLoad) checkAcked(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.c.Members() {
		srv := m.Server()
		if srv == nil {
			continue
		}
		for key, val := range l.acked {
			ev, err := srv.Store().Get(key, false, false, time.Now())
			if err != nil || ev.Node.Value == nil || *ev.Node.Value != val {
				t.Fatalf("acknowledged write %s=%s lost on %s: %v", key, val, m.Name, err)
			}
		}
	}
	t.Logf("%d acknowledged writes present on every member; %d writes failed or timed out", len(l.acked), l.failed)
}
