package store

import (
	"io"
	"strings"

	"github.com/tidwall/btree"
)

// defaultListBudget bounds the nodes a client read lists under the store's
// lock. At about a microsecond a node, writes then wait a few milliseconds
// at most; a larger listing is encoded from a copy of the tree instead.
const defaultListBudget = 10_000

// readIn reads the node at the clean path p in tree t at store index idx.
// A directory's children are listed as NodeExterns, up to budget nodes
// when budget > 0 (nil, nil when there are more) and without limit when
// budget < 0; budget 0 leaves them to a listing encoded by AppendJSON.
func readIn(t *btree.BTreeG[entry], idx uint64, p string, recursive bool, now int64, budget int) (*Event, error) {
	var n *NodeExtern
	dir := true
	if p == "/" {
		// The root shows no key and no indexes, as etcd 3.4 prints it.
		n = &NodeExtern{Dir: true}
	} else {
		e, le := lookupIn(t, p)
		if le != nil {
			return nil, le.apiErr(idx)
		}
		n, dir = extern(&e, now), e.dir()
	}
	ev := &Event{Action: ActionGet, Node: n, EtcdIndex: idx}
	switch {
	case !dir:
	case budget == 0:
		ev.list = &listing{tree: t, dir: p, recursive: recursive, now: now}
	default:
		nodes, ok := listIn(t, p, recursive, now, &budget)
		if !ok {
			return nil, nil
		}
		n.Nodes = nodes
	}
	return ev, nil
}

// eachChild calls visit with every visible child of dir k in t (hidden
// names left out), in key order, until visit returns false; it reports
// whether it saw them all.
//
// The keys under k come in byte order, so a child directory "k/a" is not
// directly followed by its own subtree: siblings such as "k/a!b" or "k/a.c"
// sort between "k/a" and "k/a/...". The scan therefore walks the children in
// order and, on meeting a deeper key, seeks past that child's subtree.
func eachChild(t *btree.BTreeG[entry], k string, visit func(e entry) bool) bool {
	prefix := childPrefix(k)
	it := t.Iter()
	defer it.Release()
	ok := it.Seek(probe(prefix))
	for ok {
		e := it.Item()
		key := e.key()
		if !strings.HasPrefix(key, prefix) {
			break
		}
		name := key[len(prefix):]
		if i := strings.IndexByte(name, '/'); i >= 0 {
			ok = it.Seek(probe(subtreeEnd(key[:len(prefix)+i])))
			continue
		}
		if name[0] != '_' && !visit(e) {
			return false
		}
		ok = it.Next()
	}
	return true
}

// listIn returns the visible children of dir k in t, sorted by key, with
// their subtrees when recursive; nil for an empty directory, so that
// "nodes" is omitted. A budget >= 0 is decremented per node, and the
// listing given up (ok false) when it would go below zero.
func listIn(t *btree.BTreeG[entry], k string, recursive bool, now int64, budget *int) (out []*NodeExtern, ok bool) {
	ok = eachChild(t, k, func(e entry) bool {
		if *budget == 0 {
			return false
		}
		if *budget > 0 {
			*budget--
		}
		n := extern(&e, now)
		if e.dir() && recursive {
			var sub bool
			if n.Nodes, sub = listIn(t, e.key(), true, now, budget); !sub {
				return false
			}
		}
		out = append(out, n)
		return true
	})
	return out, ok
}

// listing is a directory's children left to be encoded from a copy of the
// tree that nothing writes to, when the answer is written.
type listing struct {
	tree      *btree.BTreeG[entry]
	dir       string
	recursive bool
	now       int64
}

// appendNode appends n, the listed directory, with its children as
// appendNode would show them had they been listed into n.Nodes.
func (l *listing) appendNode(b []byte, n *NodeExtern, spill func([]byte) ([]byte, bool)) []byte {
	b, first := appendNodeHead(b, n)
	b, _ = l.appendChildren(b, l.dir, &first, spill)
	return appendNodeTail(b, n, first)
}

// appendChildren appends the "nodes" field of dir k, when it has any
// visible child, handing b to spill (if not nil) after each child; it stops
// when spill says so, and then reports false.
func (l *listing) appendChildren(b []byte, k string, first *bool, spill func([]byte) ([]byte, bool)) (_ []byte, ok bool) {
	any := false
	ok = true
	// One node's scratch per directory level, not per child: escape
	// analysis puts these on the heap (appendChildren recurses).
	var blk externBlock
	var cfirst bool
	eachChild(l.tree, k, func(e entry) bool {
		if any {
			b = append(b, ',')
		} else {
			b = appendField(b, first, "nodes")
			b = append(b, '[')
			any = true
		}
		n := blk.fill(&e, l.now)
		b, cfirst = appendNodeHead(b, n)
		if e.dir() && l.recursive {
			if b, ok = l.appendChildren(b, e.key(), &cfirst, spill); !ok {
				return false
			}
		}
		b = appendNodeTail(b, n, cfirst)
		if spill != nil {
			b, ok = spill(b)
		}
		return ok
	})
	if any {
		b = append(b, ']')
	}
	return b, ok
}

// spillSize is how much of a large listing's encoding WriteJSON gathers
// before writing it out.
const spillSize = 64 << 10

func (e *Event) writeJSON(w io.Writer) error {
	if e.list == nil {
		_, err := w.Write(e.AppendJSON(nil))
		return err
	}
	var err error
	spill := func(b []byte) ([]byte, bool) {
		if len(b) < spillSize {
			return b, true
		}
		_, err = w.Write(b)
		return b[:0], err == nil
	}
	b := appendEventSpill(make([]byte, 0, 2*spillSize), e, spill)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
