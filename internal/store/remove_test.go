package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRemoveSubtree deletes and expires directories among siblings whose
// names sort right before and after the directory's children ("b-", "b.",
// "b0", "bb"), with TTLs inside and outside, and checks the store keeps
// exactly the other nodes and their TTLs, whichever way the subtree's TTLs
// are found (a subtree shorter or longer than the TTL index, or no TTLs).
func TestRemoveSubtree(t *testing.T) {
	exp := func(d time.Duration) int64 { return testNow.Add(d).UnixNano() }
	siblings := []string{"/a/b-", "/a/b.x", "/a/b0/x/y", "/a/b1", "/a/bb", "/a/_b", "/a/c/d", "/a0", "/b"}
	cases := []struct {
		name            string
		inside, outside int // nodes under /a/b, and other nodes with a TTL
		timedInside     int // every timedInside-th node under /a/b has a TTL (0: none)
	}{
		{name: "subtree shorter than the TTL index", inside: 20, outside: 100, timedInside: 3},
		{name: "subtree longer than the TTL index", inside: 300, outside: 4, timedInside: 50},
		{name: "no TTL under the directory", inside: 300, outside: 7},
		{name: "no TTL at all", inside: 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{HistorySize: 100})
			apply := func(path string, dir bool, e int64) {
				mustApply(t, s, &Request{Method: MethodPut, Path: path, Val: "v", Dir: dir, Expiration: e, Time: testNow.UnixNano()})
			}
			for _, k := range siblings {
				apply(k, false, 0)
			}
			for i := 0; i < tc.outside; i++ {
				// Half sort before the directory, half after it.
				apply(fmt.Sprintf([]string{"/0/k%d", "/t/k%d"}[i%2], i), false, exp(time.Duration(i+1)*time.Minute))
			}
			apply("/a/b", true, 0)
			for i := 0; i < tc.inside; i++ {
				var e int64
				if tc.timedInside > 0 && i%tc.timedInside == 0 {
					e = exp(time.Duration(i+1) * time.Second)
				}
				name := []string{"/a/b/k%d", "/a/b/_h%d", "/a/b/d%d/e/f", "/a/b/-%d", "/a/b/0%d"}[i%5]
				apply(fmt.Sprintf(name, i), false, e)
			}
			before, beforeTTL := entries(s), ttlItems(s)
			held := s.Snapshot()

			ev := mustApply(t, s, &Request{Method: MethodDelete, Path: "/a/b", Recursive: true, Time: testNow.UnixNano()})
			if ev.Action != ActionDelete || ev.Node.Key != "/a/b" || !ev.Node.Dir {
				t.Fatalf("event = %s %s dir=%v", ev.Action, ev.Node.Key, ev.Node.Dir)
			}
			checkRemoved(t, s, before, beforeTTL, "/a/b")
			if got := held.tree.Len(); got != len(before) {
				t.Fatalf("a snapshot taken before the delete has %d nodes, want %d", got, len(before))
			}

			// Expiry removes a directory the same way: give /a/c a TTL
			// shorter than every other, then let it pass.
			yes := true
			mustApply(t, s, &Request{Method: MethodPut, Path: "/a/c", Dir: true, PrevExist: &yes, Expiration: exp(time.Millisecond), Time: testNow.UnixNano()})
			before, beforeTTL = entries(s), ttlItems(s)
			mustApply(t, s, &Request{Method: MethodSync, Time: exp(time.Millisecond)})
			removed := slices.DeleteFunc(slices.Clone(beforeTTL), func(it ttlItem) bool { return it.key != "/a/c" })
			checkRemoved(t, s, before, slices.DeleteFunc(beforeTTL, func(it ttlItem) bool { return it.key == "/a/c" }), "/a/c")
			if len(removed) != 1 {
				t.Fatalf("the TTL index held /a/c %d times before it expired", len(removed))
			}
			// Every TTL left still names its node: expiring them all must
			// not find the index out of step with the tree.
			mustApply(t, s, &Request{Method: MethodSync, Time: exp(24 * time.Hour)})
			if n := len(ttlItems(s)); n != 0 {
				t.Fatalf("%d TTLs left after everything expired", n)
			}
		})
	}
}

// checkRemoved asserts the store holds exactly before's nodes and TTLs
// minus dir and everything under it.
func checkRemoved(t *testing.T, s *Store, before []entry, beforeTTL []ttlItem, dir string) {
	t.Helper()
	gone := func(k string) bool { return k == dir || strings.HasPrefix(k, dir+"/") }
	want := slices.DeleteFunc(slices.Clone(before), func(e entry) bool { return gone(e.key()) })
	if len(want) == len(before) {
		t.Fatalf("nothing under %s to remove", dir)
	}
	if got := entries(s); !slices.Equal(got, want) {
		t.Fatalf("after removing %s: %d nodes, want %d", dir, len(got), len(want))
	}
	wantTTL := slices.DeleteFunc(slices.Clone(beforeTTL), func(it ttlItem) bool { return gone(it.key) })
	if got := ttlItems(s); !slices.Equal(got, wantTTL) {
		t.Fatalf("after removing %s: TTL index %v, want %v", dir, got, wantTTL)
	}
}
