package cluster

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// goroutineWatch remembers the goroutines that ran before a cluster
// started, so that after it stops any new one still running is a leak.
type goroutineWatch struct{ before map[string]bool }

func watchGoroutines() goroutineWatch {
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[goroutineID(g)] = true
	}
	return goroutineWatch{before: before}
}

// check polls until no goroutine started since watchGoroutines is left
// (stopping ones may take a moment), or reports the stacks of those that
// remain after timeout.
func (w goroutineWatch) check(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var leaked []string
		for _, g := range goroutines() {
			if !w.before[goroutineID(g)] && !harmless(g) {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: %d goroutines still running %v after the cluster stopped:\n\n%s",
				len(leaked), timeout, strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutines returns the stack of every goroutine but the caller's.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	return stacks[1:] // the first is the caller's
}

// goroutineID is the "goroutine 123" prefix of a stack.
func goroutineID(stack string) string {
	id, _, _ := strings.Cut(stack, " [")
	return id
}

// harmless says whether a goroutine belongs to the runtime or the test
// framework rather than to anything a cluster starts.
func harmless(stack string) bool {
	_, body, _ := strings.Cut(stack, "\n")
	for _, p := range []string{"testing.", "runtime.goexit", "os/signal.", "runtime.ensureSigM", "created by runtime.gc"} {
		if strings.HasPrefix(body, p) {
			return true
		}
	}
	// A test's own goroutines (its parent test, t.Cleanup callers) run in
	// the testing package.
	return strings.Contains(body, "testing.tRunner") && !strings.Contains(body, "arbor-kv/arbor/internal/")
}
