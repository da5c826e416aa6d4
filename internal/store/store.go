package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/tidwall/btree"
)

// Store is the v2 key tree with its TTL index, event history and watch hub.
// See the package doc for the data layout and the lock order.
type Store struct {
	// mu guards every field up to gets. Apply, Snapshot and Restore take it
	// for writing; Get, Watch and watcher catch-up for reading.
	mu   sync.RWMutex
	tree *btree.BTreeG[entry]
	ttl  *btree.BTreeG[ttlItem]
	// idx is the store index. Invariant: hist holds events up to idx.
	idx uint64
	// published is idx as of the last completed Apply or Restore.
	published atomic.Uint64
	// lastSync is the Time of the last applied MethodSync or MethodExtend;
	// synced says whether there was one.
	lastSync int64
	synced   bool
	// counts holds the write counters; its Get and Watchers fields are unused.
	counts Stats
	hist   history

	// gets are counted under the read lock, hence atomics.
	getOK, getFail atomic.Uint64

	hub hub

	// queueSize is the per-watcher event queue of stream watchers; tests
	// shrink it to exercise catch-up from the history.
	queueSize int
	// listBudget is how many nodes a Read lists under the lock before it
	// turns to a copy of the tree (defaultListBudget; tests shrink it).
	listBudget int
}

// defaultQueueSize is deep enough that a reader keeping up with the apply
// loop never falls back to the slower history scan.
const defaultQueueSize = 64

func newStore(cfg Config) *Store {
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = DefaultHistorySize
	}
	s := &Store{
		tree:       newTree(),
		ttl:        newTTLTree(),
		queueSize:  defaultQueueSize,
		listBudget: defaultListBudget,
	}
	s.hist.init(cfg.HistorySize, cfg.HistoryBytes, 1)
	s.hub.init(cfg.MaxWatchers)
	return s
}

func (s *Store) errLocked(code apierr.Code, cause string) *apierr.Error {
	return apierr.New(code, cause, s.idx)
}

// lookupErrLocked turns a failed lookup into etcd's error.
func (s *Store) lookupErrLocked(le *lookupErr) *apierr.Error { return le.apiErr(s.idx) }

// apiErr is etcd's error for the failed lookup, at store index idx.
func (le *lookupErr) apiErr(idx uint64) *apierr.Error {
	if le.missing {
		return apierr.New(apierr.KeyNotFound, le.at, idx)
	}
	return apierr.New(apierr.NotDir, le.at, idx)
}

func (s *Store) apply(r *Request) (*Event, error) {
	if r == nil {
		return nil, apierr.New(apierr.RaftInternal, "store: nil request", s.Index())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.publishIndex()
	p := cleanPath(r.Path)
	var (
		ev      *Event
		err     *apierr.Error
		ok, bad *uint64
	)
	c := &s.counts
	switch r.Method {
	case MethodPut:
		switch {
		case r.PrevExist != nil && *r.PrevExist && r.PrevIndex == 0 && r.PrevValue == "":
			ok, bad = &c.UpdateSuccess, &c.UpdateFail
			ev, err = s.updateLocked(p, r)
		case r.PrevExist != nil && !*r.PrevExist:
			ok, bad = &c.CreateSuccess, &c.CreateFail
			ev, err = s.createLocked(p, r, false)
		case r.PrevExist != nil || r.PrevIndex > 0 || r.PrevValue != "":
			ok, bad = &c.CompareAndSwapSuccess, &c.CompareAndSwapFail
			ev, err = s.casLocked(p, r)
		default:
			ok, bad = &c.SetSuccess, &c.SetFail
			ev, err = s.setLocked(p, r)
		}
	case MethodPost:
		ok, bad = &c.CreateSuccess, &c.CreateFail
		ev, err = s.createLocked(p, r, true)
	case MethodDelete:
		if r.PrevIndex > 0 || r.PrevValue != "" {
			ok, bad = &c.CompareAndDeleteSuccess, &c.CompareAndDeleteFail
			ev, err = s.cadLocked(p, r)
		} else {
			ok, bad = &c.DeleteSuccess, &c.DeleteFail
			ev, err = s.deleteLocked(p, r)
		}
	case MethodSync:
		s.expireLocked(r.Time)
		return nil, nil
	case MethodExtend:
		s.extendLocked(r.Time)
		return nil, nil
	default:
		return nil, s.errLocked(apierr.RaftInternal, fmt.Sprintf("store: unknown method %d", r.Method))
	}
	if err != nil {
		*bad++
		return nil, err
	}
	*ok++
	s.commitLocked(ev)
	return ev, nil
}

// commitLocked records an applied event and wakes its watchers. Refreshes go
// into the history (they hold an index) but are never delivered.
func (s *Store) commitLocked(ev *Event) {
	s.hist.add(ev)
	if !ev.Refresh {
		s.hub.notify(ev)
	}
}

// mkdirsLocked creates the directories of p from the first missing one, from,
// down to p's parent, all at index idx.
func (s *Store) mkdirsLocked(p, from string, idx uint64) {
	// from is p itself or a prefix ending just before a '/', so the first
	// directory made is from.
	for i := len(from); i < len(p); i++ {
		if p[i] == '/' {
			s.putLocked(newEntry(p[:i], "", true, idx, idx, 0))
		}
	}
}

func (s *Store) setLocked(p string, r *Request) (*Event, *apierr.Error) {
	if p == "/" {
		return nil, s.errLocked(apierr.RootReadOnly, "/")
	}
	old, le := s.lookupLocked(p)
	if le != nil && !le.missing {
		return nil, s.lookupErrLocked(le)
	}
	val := r.Val
	if r.Refresh {
		if le != nil {
			return nil, s.lookupErrLocked(le)
		}
		val = old.val()
	}
	if le == nil && old.dir() {
		return nil, s.errLocked(apierr.NotFile, p)
	}
	next := s.idx + 1
	if le != nil {
		s.mkdirsLocked(p, le.at, next)
	}
	if r.Dir {
		val = ""
	}
	ne := newEntry(p, val, r.Dir, next, next, r.Expiration)
	s.putLocked(ne)
	s.idx = next
	var prev *entry
	if le == nil {
		prev = &old
	}
	ev := newEvent(ActionSet, next, &ne, prev, r.Time)
	ev.Refresh = r.Refresh
	return ev, nil
}

func (s *Store) createLocked(p string, r *Request, unique bool) (*Event, *apierr.Error) {
	next := s.idx + 1
	if unique {
		p = childPrefix(p) + fmt.Sprintf("%020d", next)
	}
	if p == "/" {
		return nil, s.errLocked(apierr.RootReadOnly, "/")
	}
	_, le := s.lookupLocked(p)
	if le == nil {
		return nil, s.errLocked(apierr.NodeExist, p)
	}
	if !le.missing {
		return nil, s.lookupErrLocked(le)
	}
	s.mkdirsLocked(p, le.at, next)
	val := r.Val
	if r.Dir {
		val = ""
	}
	ne := newEntry(p, val, r.Dir, next, next, r.Expiration)
	s.putLocked(ne)
	s.idx = next
	return newEvent(ActionCreate, next, &ne, nil, r.Time), nil
}

// rewrite returns old with a new value, modified index and expiration,
// reusing old's storage when the value is unchanged (as on a refresh).
func rewrite(old entry, val string, modified uint64, exp int64) entry {
	if val == old.val() {
		old.modified, old.exp = modified, exp
		return old
	}
	return newEntry(old.key(), val, old.dir(), old.created, modified, exp)
}

func (s *Store) updateLocked(p string, r *Request) (*Event, *apierr.Error) {
	if p == "/" {
		return nil, s.errLocked(apierr.RootReadOnly, "/")
	}
	old, le := s.lookupLocked(p)
	if le != nil {
		return nil, s.lookupErrLocked(le)
	}
	if old.dir() && r.Val != "" {
		return nil, s.errLocked(apierr.NotFile, p)
	}
	next := s.idx + 1
	var ne entry
	if old.dir() {
		// etcd keeps a directory's stored modifiedIndex on update (its
		// node.Write refuses directories) while the event shows the new
		// index; only the TTL changes.
		ne = old
		ne.exp = r.Expiration
	} else {
		val := r.Val
		if r.Refresh {
			val = old.val()
		}
		ne = rewrite(old, val, next, r.Expiration)
	}
	s.putLocked(ne)
	s.idx = next
	ev := newEvent(ActionUpdate, next, &ne, &old, r.Time)
	ev.Node.ModifiedIndex = next
	ev.Refresh = r.Refresh
	return ev, nil
}

// compareFailed checks prevValue/prevIndex against e and returns etcd's
// cause when they do not match.
func compareFailed(e *entry, prevValue string, prevIndex uint64) (string, bool) {
	indexOK := prevIndex == 0 || e.modified == prevIndex
	valueOK := prevValue == "" || e.val() == prevValue
	switch {
	case indexOK && valueOK:
		return "", false
	case indexOK:
		return fmt.Sprintf("[%v != %v]", prevValue, e.val()), true
	case valueOK:
		return fmt.Sprintf("[%v != %v]", prevIndex, e.modified), true
	}
	return fmt.Sprintf("[%v != %v] [%v != %v]", prevValue, e.val(), prevIndex, e.modified), true
}

// comparedLocked finds the key a compare-and-swap or compare-and-delete
// names and checks r's comparison against it.
func (s *Store) comparedLocked(p string, r *Request) (entry, *apierr.Error) {
	old, le := s.lookupLocked(p)
	if le != nil {
		return entry{}, s.lookupErrLocked(le)
	}
	if old.dir() {
		return entry{}, s.errLocked(apierr.NotFile, p)
	}
	if cause, failed := compareFailed(&old, r.PrevValue, r.PrevIndex); failed {
		return entry{}, s.errLocked(apierr.TestFailed, cause)
	}
	return old, nil
}

func (s *Store) casLocked(p string, r *Request) (*Event, *apierr.Error) {
	if p == "/" {
		return nil, s.errLocked(apierr.RootReadOnly, "/")
	}
	old, err := s.comparedLocked(p, r)
	if err != nil {
		return nil, err
	}
	val := r.Val
	if r.Refresh {
		val = old.val()
	}
	next := s.idx + 1
	ne := rewrite(old, val, next, r.Expiration)
	s.putLocked(ne)
	s.idx = next
	ev := newEvent(ActionCompareAndSwap, next, &ne, &old, r.Time)
	ev.Refresh = r.Refresh
	return ev, nil
}

func (s *Store) deleteLocked(p string, r *Request) (*Event, *apierr.Error) {
	if p == "/" {
		return nil, s.errLocked(apierr.RootReadOnly, "/")
	}
	dir := r.Dir || r.Recursive
	old, le := s.lookupLocked(p)
	if le != nil {
		return nil, s.lookupErrLocked(le)
	}
	if old.dir() {
		if !dir {
			return nil, s.errLocked(apierr.NotFile, p)
		}
		if !r.Recursive && s.hasChildrenLocked(p) {
			return nil, s.errLocked(apierr.DirNotEmpty, p)
		}
	}
	next := s.idx + 1
	s.removeLocked(old)
	s.idx = next
	return newRemoval(ActionDelete, next, &old, r.Time), nil
}

func (s *Store) cadLocked(p string, r *Request) (*Event, *apierr.Error) {
	if p == "/" {
		// etcd's compareAndDelete has no read-only check: the root fails
		// as a directory, and etcd 3.4 prints the cause empty.
		return nil, s.errLocked(apierr.NotFile, "")
	}
	old, err := s.comparedLocked(p, r)
	if err != nil {
		return nil, err
	}
	next := s.idx + 1
	s.removeLocked(old)
	s.idx = next
	return newRemoval(ActionCompareAndDelete, next, &old, r.Time), nil
}

// expireLocked removes every node whose expiration is not after t, earliest
// first (ties by key), one "expire" event and index each.
func (s *Store) expireLocked(t int64) {
	for {
		it, ok := s.ttl.Min()
		if !ok || it.exp > t {
			break
		}
		e, ok := s.tree.Get(probe(it.key))
		if !ok || e.exp != it.exp {
			panic(fmt.Sprintf("store: ttl index names %q (exp %d) but the tree has it=%v exp=%d", it.key, it.exp, ok, e.exp))
		}
		next := s.idx + 1
		s.removeLocked(e)
		s.idx = next
		s.counts.ExpireCount++
		s.commitLocked(newRemoval(ActionExpire, next, &e, t))
	}
	s.lastSync, s.synced = t, true
}

// extendLocked moves every pending expiration later by the time since the
// last sync: nobody could refresh or expire keys meanwhile.
func (s *Store) extendLocked(t int64) {
	if s.synced && t > s.lastSync && s.ttl.Len() > 0 {
		delta := t - s.lastSync
		items := s.ttl.Items()
		nt := newTTLTree()
		for _, it := range items {
			e, ok := s.tree.Get(probe(it.key))
			if !ok {
				panic(fmt.Sprintf("store: ttl index names missing key %q", it.key))
			}
			e.exp += delta
			s.tree.Set(e)
			// A uniform shift keeps the order, so the new index loads in order.
			nt.Load(ttlItem{exp: it.exp + delta, key: it.key})
		}
		s.ttl = nt
	}
	s.lastSync, s.synced = t, true
}

func (s *Store) get(p string, recursive, lazy bool, now time.Time) (*Event, error) {
	p = cleanPath(p)
	ns := now.UnixNano()
	budget := -1
	if lazy {
		budget = s.listBudget
	}
	s.mu.RLock()
	ev, err := readIn(s.tree, s.idx, p, recursive, ns, budget)
	s.mu.RUnlock()
	if ev == nil && err == nil {
		// Too large to build under the lock, which writes wait for: list
		// from a copy of the tree instead (O(1); writes then copy the nodes
		// they change), encoded only when the answer is written.
		s.mu.Lock()
		t, idx := s.tree.IsoCopy(), s.idx
		s.mu.Unlock()
		ev, err = readIn(t, idx, p, recursive, ns, 0)
	}
	if err != nil {
		s.getFail.Add(1)
		return nil, err
	}
	s.getOK.Add(1)
	return ev, nil
}

func (s *Store) value(p string) (string, uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, le := s.lookupLocked(cleanPath(p))
	if le != nil || e.dir() {
		return "", 0, false
	}
	return e.val(), e.modified, true
}

// index is the store index as of the last completed write, read without
// the lock: every request asks for it, and readers waiting on the lock
// the apply loop holds cost a goroutine switch each.
func (s *Store) index() uint64 { return s.published.Load() }

// publishIndex makes idx visible to index. Requires s.mu held for writing.
func (s *Store) publishIndex() { s.published.Store(s.idx) }

func (s *Store) nextExpiration() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, ok := s.ttl.Min()
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, it.exp), true
}

func (s *Store) stats() Stats {
	s.mu.RLock()
	st := s.counts
	s.mu.RUnlock()
	st.GetSuccess = s.getOK.Load()
	st.GetFail = s.getFail.Load()
	st.Watchers = uint64(s.hub.openCount())
	return st
}

func (s *Store) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.Len()
}

func (e *Event) encode() []byte {
	if p := e.encoded.Load(); p != nil {
		return *p
	}
	b := append(appendEvent(make([]byte, 0, 256), e), '\n')
	if e.encoded.CompareAndSwap(nil, &b) {
		return b
	}
	return *e.encoded.Load()
}
