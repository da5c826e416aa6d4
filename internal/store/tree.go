package store

import (
	"path"
	"strings"
	"time"

	"github.com/tidwall/btree"
)

// entry is one key or directory, stored by value in the btree. It holds no
// pointers besides kv, so a million entries cost one allocation each and
// the GC has little to scan.
type entry struct {
	// kv is the full key immediately followed by the value. Keeping both in
	// one string saves a string header and an allocation per node; key()
	// and val() slice it without copying.
	kv       string
	klen     uint32
	flags    uint32
	created  uint64
	modified uint64
	// exp is the expiration in Unix nanoseconds; 0 means permanent.
	exp int64
}

const flagDir uint32 = 1

func (e *entry) key() string { return e.kv[:e.klen] }
func (e *entry) val() string { return e.kv[e.klen:] }
func (e *entry) dir() bool   { return e.flags&flagDir != 0 }

// newEntry builds an entry whose kv is a fresh allocation, so it never pins a
// caller's larger buffer.
func newEntry(key, val string, dir bool, created, modified uint64, exp int64) entry {
	var b strings.Builder
	b.Grow(len(key) + len(val))
	b.WriteString(key)
	b.WriteString(val)
	e := entry{kv: b.String(), klen: uint32(len(key)), created: created, modified: modified, exp: exp}
	if dir {
		e.flags = flagDir
	}
	return e
}

// probe is a search key for the tree; it borrows k without copying.
func probe(k string) entry { return entry{kv: k, klen: uint32(len(k))} }

func entryLess(a, b entry) bool { return a.kv[:a.klen] < b.kv[:b.klen] }

// ttlItem orders pending expirations by (expiration, key).
type ttlItem struct {
	exp int64
	key string
}

func ttlLess(a, b ttlItem) bool {
	if a.exp != b.exp {
		return a.exp < b.exp
	}
	return a.key < b.key
}

// The store has its own lock, so the btrees run without theirs.
var btreeOpts = btree.Options{NoLocks: true}

func newTree() *btree.BTreeG[entry] { return btree.NewBTreeGOptions(entryLess, btreeOpts) }

func newTTLTree() *btree.BTreeG[ttlItem] { return btree.NewBTreeGOptions(ttlLess, btreeOpts) }

// subtreeEnd is the smallest key greater than every key under dir k: the
// keys under k all start with k+"/", and '0' is the byte after '/'.
func subtreeEnd(k string) string { return k + "0" }

// childPrefix is the prefix shared by every key under dir k.
func childPrefix(k string) string {
	if k == "/" {
		return "/"
	}
	return k + "/"
}

// isHiddenName reports whether the last segment of k starts with '_'.
func isHiddenName(k string) bool {
	i := strings.LastIndexByte(k, '/')
	return i+1 < len(k) && k[i+1] == '_'
}

// cleanPath makes p absolute and clean, as etcd does for every key.
func cleanPath(p string) string {
	if p == "/" {
		return p
	}
	if len(p) > 1 && p[0] == '/' && !needsClean(p) {
		return p
	}
	return path.Clean("/" + p)
}

// needsClean reports whether an absolute path p could change under
// path.Clean: a trailing slash, an empty, "." or ".." segment.
func needsClean(p string) bool {
	if p[len(p)-1] == '/' {
		return true
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[start:i]
			if seg == "" || seg == "." || seg == ".." {
				return true
			}
			start = i + 1
		}
	}
	return false
}

// ttlOf returns what the API shows for an expiration seen at now: the UTC
// expiration and the seconds left rounded up, 0 (omitted) when already due.
func ttlOf(exp, now int64) (time.Time, int64) {
	t := time.Unix(0, exp).UTC()
	d := exp - now
	if d <= 0 {
		return t, 0
	}
	ttl := d / int64(time.Second)
	if d%int64(time.Second) > 0 {
		ttl++
	}
	return t, ttl
}

// extern is the node as etcd's Repr(recursive=false) shows it: no children.
func extern(e *entry, now int64) *NodeExtern {
	return new(externBlock).fill(e, now)
}

// externBlock is a NodeExtern with room for what its pointer fields point
// to, so that a node is one allocation: a write's events were a third of
// its allocations, and the history keeps 100,000 of them for the collector
// to trace.
type externBlock struct {
	n   NodeExtern
	val string
	exp time.Time
}

// fill makes b's node extern(e, now) and returns it.
func (b *externBlock) fill(e *entry, now int64) *NodeExtern {
	b.n = NodeExtern{Key: e.key(), ModifiedIndex: e.modified, CreatedIndex: e.created}
	if e.dir() {
		b.n.Dir = true
	} else {
		b.val = e.val()
		b.n.Value = &b.val
	}
	if e.exp != 0 {
		b.exp, b.n.TTL = ttlOf(e.exp, now)
		b.n.Expiration = &b.exp
	}
	return &b.n
}

// newEvent returns the event of a write that left node (seen at now), with
// prev as its prevNode unless nil, in one allocation.
func newEvent(action string, idx uint64, node, prev *entry, now int64) *Event {
	if prev == nil {
		b := &struct {
			ev   Event
			node externBlock
		}{ev: Event{Action: action, EtcdIndex: idx}}
		b.ev.Node = b.node.fill(node, now)
		return &b.ev
	}
	b := &struct {
		ev         Event
		node, prev externBlock
	}{ev: Event{Action: action, EtcdIndex: idx}}
	b.ev.Node = b.node.fill(node, now)
	b.ev.PrevNode = b.prev.fill(prev, now)
	return &b.ev
}

// newRemoval returns the event of old's removal at index idx: its node is
// old without a value and with the new modified index (etcd's), its
// prevNode old as it was.
func newRemoval(action string, idx uint64, old *entry, now int64) *Event {
	b := &struct {
		ev         Event
		node, prev externBlock
	}{ev: Event{Action: action, EtcdIndex: idx}}
	b.node.n = NodeExtern{Key: old.key(), Dir: old.dir(), ModifiedIndex: idx, CreatedIndex: old.created}
	b.ev.Node = &b.node.n
	b.ev.PrevNode = b.prev.fill(old, now)
	return &b.ev
}

// lookupLocked finds the node at the clean path p (not the root). When it is
// missing it returns the error etcd's walk gives: 100 naming the first
// missing segment, or 104 naming a file met on the way.
func (s *Store) lookupLocked(p string) (entry, *lookupErr) { return lookupIn(s.tree, p) }

// lookupIn is lookupLocked on tree t (the store's, or a copy of it).
func lookupIn(t *btree.BTreeG[entry], p string) (entry, *lookupErr) {
	if e, ok := t.Get(probe(p)); ok {
		return e, nil
	}
	// Usually the parent exists (a new key in an existing dir). Every
	// ancestor of an existing node is a directory, so the parent alone
	// decides the answer then.
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return entry{}, &lookupErr{missing: true, at: p}
	}
	if e, ok := t.Get(probe(p[:i])); ok {
		if e.dir() {
			return entry{}, &lookupErr{missing: true, at: p}
		}
		return entry{}, &lookupErr{at: p[:i]}
	}
	for i := 1; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		a := p[:i]
		e, ok := t.Get(probe(a))
		if !ok {
			return entry{}, &lookupErr{missing: true, at: a}
		}
		if !e.dir() {
			return entry{}, &lookupErr{at: a}
		}
	}
	return entry{}, &lookupErr{missing: true, at: p}
}

// lookupErr is why lookupLocked found nothing: at is the first missing
// segment (missing) or a file that should have been a directory.
type lookupErr struct {
	missing bool
	at      string
}

// hasChildrenLocked reports whether dir k has any child, hidden ones included.
func (s *Store) hasChildrenLocked(k string) bool {
	prefix := childPrefix(k)
	found := false
	s.tree.Ascend(probe(prefix), func(e entry) bool {
		found = strings.HasPrefix(e.key(), prefix)
		return false
	})
	return found
}

// removeLocked deletes the node e and, for a directory, its whole subtree,
// keeping the TTL index in step. The subtree is one key range of the tree,
// dropped with DeleteRange, which unlinks whole B-tree nodes inside the
// range instead of deleting key by key: a directory of a million keys goes
// in a few node edits (plus a walk to find its TTLs, if the store has
// any), not a million deletes, and the writes queued behind it wait
// milliseconds instead of over a second.
func (s *Store) removeLocked(e entry) {
	s.tree.Delete(e)
	if e.exp != 0 {
		s.ttl.Delete(ttlItem{exp: e.exp, key: e.key()})
	}
	if !e.dir() {
		return
	}
	prefix := childPrefix(e.key())
	timed := s.timedUnderLocked(prefix)
	s.tree.DeleteRange(probe(prefix), probe(subtreeEnd(e.key())), &btree.DeleteRangeOptions{NoReturn: true})
	for _, it := range timed {
		s.ttl.Delete(it)
	}
}

// timedUnderLocked lists the TTL index's items for nodes whose keys start
// with prefix. The index is ordered by expiration, so they are found by
// walking the subtree or, when that is longer than the whole index, the
// index: at most twice the shorter of the two walks.
func (s *Store) timedUnderLocked(prefix string) []ttlItem {
	budget := s.ttl.Len()
	if budget == 0 {
		return nil
	}
	var timed []ttlItem
	overrun := false
	s.tree.Ascend(probe(prefix), func(c entry) bool {
		if !strings.HasPrefix(c.key(), prefix) {
			return false
		}
		if budget == 0 {
			overrun = true
			return false
		}
		budget--
		if c.exp != 0 {
			timed = append(timed, ttlItem{exp: c.exp, key: c.key()})
		}
		return true
	})
	if !overrun {
		return timed
	}
	timed = timed[:0]
	s.ttl.Scan(func(it ttlItem) bool {
		if strings.HasPrefix(it.key, prefix) {
			timed = append(timed, it)
		}
		return true
	})
	return timed
}

// putLocked inserts or replaces e, keeping the TTL index in step with the
// entry it replaces.
func (s *Store) putLocked(e entry) {
	old, replaced := s.tree.Set(e)
	if replaced && old.exp != 0 {
		s.ttl.Delete(ttlItem{exp: old.exp, key: old.key()})
	}
	if e.exp != 0 {
		s.ttl.Set(ttlItem{exp: e.exp, key: e.key()})
	}
}
