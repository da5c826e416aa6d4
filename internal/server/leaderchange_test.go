package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// A write its leader took but could not commit before losing the cluster
// is answered as soon as the member applies the next leader's first entry
// (error 300, saying the outcome is unknown), not after RequestTimeout.
func TestWriteAnsweredWhenItsLeaderIsReplaced(t *testing.T) {
	c := startTestCluster(t, 3, 10*time.Millisecond, 30)
	old := c.waitStable()
	c.net.Isolate(old.netID)

	type answer struct {
		err  error
		took time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		_, err := old.srv.Write(context.Background(), putRequest("/lost", "x"))
		done <- answer{err, time.Since(start)}
	}()

	// Taken by the old leader before it noticed it had lost the others
	// (an election timeout, 300 ms).
	waitFor(t, "the write to be proposed", func() bool {
		old.srv.waits.mu.Lock()
		defer old.srv.waits.mu.Unlock()
		for _, w := range old.srv.waits.m {
			if w.term != 0 {
				return true
			}
		}
		return false
	})

	// The other two elect a leader of a later term; then the old one
	// hears from it and applies its entries.
	others := c.others(old)
	var next *testMember
	waitFor(t, "a new leader among the others", func() bool {
		next = c.leader(others...)
		return next != nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.mustPut(ctx, next, "/after", "y")
	c.net.Heal()

	select {
	case a := <-done:
		var ae *apierr.Error
		if !errors.As(a.err, &ae) || ae.Code != apierr.RaftInternal || !strings.Contains(ae.Cause, "leader changed") {
			t.Fatalf("write on the replaced leader: %v, want error 300 saying the leader changed", a.err)
		}
		if a.took >= old.srv.cfg.RequestTimeout {
			t.Fatalf("answered after %v, the request timeout is %v", a.took, old.srv.cfg.RequestTimeout)
		}
	case <-time.After(2 * old.srv.cfg.RequestTimeout):
		t.Fatal("no answer")
	}
	// It was not applied anywhere (its entry was replaced), and the
	// cluster goes on.
	waitFor(t, "the old leader to apply the new leader's writes", func() bool {
		_, err := old.srv.store.Get("/after", false, false, time.Now())
		return err == nil
	})
	for _, m := range c.members {
		if _, err := m.srv.store.Get("/lost", false, false, time.Now()); err == nil {
			t.Fatalf("%s applied the replaced write", m.srv.cfg.Name)
		}
	}
}
