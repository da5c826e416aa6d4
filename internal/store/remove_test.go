package store

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/btree"
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

// TestRemoveSubtreeRandom deletes random directories from random trees big
// enough to span many btree nodes, with copy-on-write copies taken along
// the way, and checks every node left and every copy against a plain map.
func TestRemoveSubtreeRandom(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		s := New(Config{HistorySize: 100})
		model := map[string]bool{} // key -> is a directory
		// Directory names are two bytes; a file's name is a directory
		// name plus a byte that sorts before '/' ('-', '.') or after it
		// ('0', '~') and a number, so files sit on both sides of a
		// namesake directory's children and never block a path.
		dirName := func() string { return string("abc_"[rng.IntN(4)]) + strconv.Itoa(rng.IntN(3)) }
		type held struct {
			snap *Snapshot
			keys []string
		}
		var copies []held
		deleted, most := 0, 0
		for op := 0; op < 40000; op++ {
			k := ""
			for i := rng.IntN(4); i > 0; i-- {
				k += "/" + dirName()
			}
			dir := k
			if dir == "" || rng.IntN(3) > 0 {
				k += "/" + dirName() + string("-.0~"[rng.IntN(4)]) + strconv.Itoa(rng.IntN(40))
			}
			if k != dir {
				r := &Request{Method: MethodPut, Path: k, Val: "v", Time: testNow.UnixNano()}
				if rng.IntN(4) == 0 {
					r.Expiration = testNow.Add(time.Duration(1+rng.IntN(1000)) * time.Second).UnixNano()
				}
				if _, err := s.Apply(r); err != nil {
					t.Fatalf("seed %d: put %s: %v", seed, k, err)
				} else {
					for p := path.Dir(k); p != "/"; p = path.Dir(p) {
						model[p] = true
					}
					model[k] = false
				}
				continue
			}
			if rng.IntN(40) > 0 { // deletes are rarer than puts
				continue
			}
			if rng.IntN(4) == 0 {
				copies = append(copies, held{s.Snapshot(), slices.Sorted(maps.Keys(model))})
			}
			if !model[k] {
				continue
			}
			most = max(most, len(model))
			mustApply(t, s, &Request{Method: MethodDelete, Path: k, Recursive: true, Time: testNow.UnixNano()})
			deleted++
			for m := range model {
				if m == k || strings.HasPrefix(m, k+"/") {
					delete(model, m)
				}
			}
			if got, want := treeKeys(s.tree), slices.Sorted(maps.Keys(model)); !slices.Equal(got, want) {
				t.Fatalf("seed %d op %d: after deleting %s: %d nodes, want %d", seed, op, k, len(got), len(want))
			}
		}
		t.Logf("seed %d: %d deletes, at most %d nodes, %d copies", seed, deleted, most, len(copies))
		if deleted < 100 || most < 5000 {
			t.Fatalf("seed %d: only %d deletes, at most %d nodes: too small to test", seed, deleted, most)
		}
		var timed []ttlItem
		for _, e := range entries(s) {
			if e.exp != 0 {
				timed = append(timed, ttlItem{exp: e.exp, key: e.key()})
			}
		}
		slices.SortFunc(timed, func(a, b ttlItem) int {
			if ttlLess(a, b) {
				return -1
			}
			return 1
		})
		if got := ttlItems(s); !slices.Equal(got, timed) {
			t.Fatalf("seed %d: TTL index holds %d items for %d timed nodes", seed, len(got), len(timed))
		}
		for i, c := range copies {
			if got := treeKeys(c.snap.tree); !slices.Equal(got, c.keys) {
				t.Fatalf("seed %d: copy %d changed: %d nodes, want %d", seed, i, len(got), len(c.keys))
			}
		}
	}
}

func treeKeys(tr *btree.BTreeG[entry]) []string {
	var ks []string
	tr.Scan(func(e entry) bool {
		ks = append(ks, e.key())
		return true
	})
	return ks
}
