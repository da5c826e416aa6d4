package store

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/tidwall/btree"
)

// matches is the one definition of which events a watcher on wpath receives,
// used both when an event is applied and when a watcher reads the history,
// so that a watcher sees the same events whichever way they reach it.
//
// An event at key k matches when k is wpath; or the watcher is recursive, k
// lies under wpath and no segment of k below wpath is hidden (a watcher
// exactly on a hidden path still sees its own events); or the event deletes
// or expires a directory that contains wpath.
func matches(wpath string, recursive bool, e *Event) bool {
	if e.Refresh {
		return false
	}
	k := e.Node.Key
	if k == wpath {
		return true
	}
	if recursive && under(k, wpath) {
		rest := k
		if wpath != "/" {
			rest = k[len(wpath):]
		}
		if !strings.Contains(rest, "/_") {
			return true
		}
	}
	if e.Node.Dir && (e.Action == ActionDelete || e.Action == ActionExpire) && under(wpath, k) {
		return true
	}
	return false
}

// under reports whether k is strictly below directory path d.
func under(k, d string) bool {
	if d == "/" {
		return len(k) > 1 && k[0] == '/'
	}
	return len(k) > len(d) && k[len(d)] == '/' && k[:len(d)] == d
}

// hub indexes open watchers by the path they watch.
type hub struct {
	// mu guards the fields below and every Watcher's group and slot.
	// Lock order: Store.mu, then hub.mu, then Watcher.mu.
	mu     sync.Mutex
	groups map[string]*watchGroup
	// paths holds the keys of groups in order, to find the watchers inside
	// a deleted directory.
	paths *btree.BTreeG[string]
	// open counts watchers returned by Watch and not yet closed.
	open int
	max  int
}

// watchGroup is every registered watcher on one path.
type watchGroup struct {
	path string
	ws   []*Watcher
}

func (h *hub) init(max int) {
	h.groups = make(map[string]*watchGroup)
	h.paths = btree.NewBTreeGOptions(func(a, b string) bool { return a < b }, btreeOpts)
	h.max = max
}

func (h *hub) openCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}

// registerLocked adds w to its path's group. Requires h.mu.
func (h *hub) registerLocked(w *Watcher) {
	g := h.groups[w.path]
	if g == nil {
		g = &watchGroup{path: w.path}
		h.groups[w.path] = g
		h.paths.Set(w.path)
	}
	w.group, w.slot = g, len(g.ws)
	g.ws = append(g.ws, w)
}

// unregisterLocked removes w from its group, if it is in one. Requires h.mu.
func (h *hub) unregisterLocked(w *Watcher) {
	g := w.group
	if g == nil {
		return
	}
	last := len(g.ws) - 1
	g.ws[w.slot] = g.ws[last]
	g.ws[w.slot].slot = w.slot
	g.ws[last] = nil
	g.ws = g.ws[:last]
	w.group = nil
	if len(g.ws) == 0 {
		delete(h.groups, g.path)
		h.paths.Delete(g.path)
	}
}

// notify offers e to every watcher it matches. The candidates are the
// groups on the root, on each ancestor of the key, on the key itself, and,
// for a removed directory, on every path inside it. Called by Apply with
// Store.mu held; it never blocks.
func (h *hub) notify(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.groups) == 0 {
		return
	}
	k := e.Node.Key
	h.notifyGroup(h.groups["/"], e)
	for i := 1; i < len(k); i++ {
		if k[i] == '/' {
			h.notifyGroup(h.groups[k[:i]], e)
		}
	}
	h.notifyGroup(h.groups[k], e)
	if e.Node.Dir && (e.Action == ActionDelete || e.Action == ActionExpire) {
		prefix := k + "/"
		h.paths.Ascend(prefix, func(p string) bool {
			if !strings.HasPrefix(p, prefix) {
				return false
			}
			h.notifyGroup(h.groups[p], e)
			return true
		})
	}
}

func (h *hub) notifyGroup(g *watchGroup, e *Event) {
	if g == nil {
		return
	}
	rec, flat := matches(g.path, true, e), matches(g.path, false, e)
	if !rec && !flat {
		return
	}
	for _, w := range g.ws {
		if (w.recursive && rec) || (!w.recursive && flat) {
			w.offer(e)
		}
	}
}

// Watcher delivers the events on one path, in index order, without loss:
// the hub queues matching events; when the queue is full the watcher is
// marked behind and later re-reads the history from where it stopped.
type Watcher struct {
	s         *Store
	path      string
	recursive bool
	stream    bool
	start     uint64
	// signal wakes Next; capacity 1 so that a wake-up is never lost and
	// never blocks the sender.
	signal chan struct{}

	// group and slot place the watcher in the hub; guarded by hub.mu.
	group *watchGroup
	slot  int

	// mu guards the fields below.
	mu sync.Mutex
	q  eventQueue
	// cursor is the lowest index not yet considered: events below it were
	// queued or did not match. Live events below it are ignored (a
	// sinceIndex in the future).
	cursor uint64
	// behind means the hub stopped queueing (queue full, or history left
	// to scan); Next resumes by scanning the history from cursor.
	behind bool
	// delivered: a non-stream watcher has queued its one event.
	delivered bool
	err       error
	closed    bool
}

// eventQueue is a fixed-size ring of events.
type eventQueue struct {
	buf     []*Event
	head, n int
}

func (q *eventQueue) full() bool { return q.n == len(q.buf) }

func (q *eventQueue) push(e *Event) {
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
}

func (q *eventQueue) pop() *Event {
	e := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return e
}

func (q *eventQueue) clear() {
	clear(q.buf)
	q.head, q.n = 0, 0
}

// catchUpBudget bounds how many history events one catch-up step scans
// under the read lock, so a watcher far behind never stalls Apply for long.
const catchUpBudget = 4096

func (s *Store) watch(p string, recursive, stream bool, sinceIndex uint64) (*Watcher, error) {
	p = cleanPath(p)
	s.mu.RLock()
	defer s.mu.RUnlock()
	cur := s.idx
	if sinceIndex == 0 {
		sinceIndex = cur + 1
	}
	if sinceIndex <= cur && sinceIndex < s.hist.first {
		return nil, s.clearedErrLocked(sinceIndex)
	}
	qsize := 1
	if stream {
		qsize = s.queueSize
	}
	w := &Watcher{
		s: s, path: p, recursive: recursive, stream: stream, start: cur,
		signal: make(chan struct{}, 1),
		q:      eventQueue{buf: make([]*Event, qsize)},
		cursor: sinceIndex,
		behind: sinceIndex <= cur,
	}
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.max > 0 && h.open >= h.max {
		return nil, apierr.Newf(apierr.WatcherCleared, cur, "too many watchers (limit %d)", h.max)
	}
	if w.behind {
		// w is not shared yet; the lock only satisfies fillLocked's contract.
		w.mu.Lock()
		w.fillLocked(catchUpBudget)
		w.mu.Unlock()
	}
	if !w.delivered {
		h.registerLocked(w)
	}
	h.open++
	return w, nil
}

func (s *Store) clearedErrLocked(since uint64) *apierr.Error {
	return apierr.Newf(apierr.EventIndexClear, s.idx,
		"the requested history has been cleared [%d/%d]", s.hist.first, since)
}

// offer queues e for w or, when the queue is full, marks w behind. Called by
// the hub with Store.mu and hub.mu held.
func (w *Watcher) offer(e *Event) {
	w.mu.Lock()
	if w.closed || w.err != nil || w.behind || w.delivered || e.Index() < w.cursor {
		w.mu.Unlock()
		return
	}
	if w.q.full() {
		w.behind = true
		w.cursor = e.Index()
	} else {
		w.q.push(e)
		w.cursor = e.Index() + 1
		w.delivered = !w.stream
	}
	w.mu.Unlock()
	w.wake()
}

func (w *Watcher) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// fillLocked scans up to budget history events from cursor, queueing the
// matches, and clears behind once it reaches the store index. Requires
// Store.mu (read or write) and w.mu: with Store.mu held no event can be
// applied, so switching from history to live delivery loses nothing.
func (w *Watcher) fillLocked(budget int) {
	s := w.s
	if w.cursor < s.hist.first {
		w.err = s.clearedErrLocked(w.cursor)
		w.behind = false
		return
	}
	end := s.idx
	for i := w.cursor; i <= end; i++ {
		if budget == 0 {
			w.cursor = i
			return
		}
		budget--
		e := s.hist.get(i)
		if !matches(w.path, w.recursive, e) {
			continue
		}
		if w.q.full() {
			w.cursor = i
			return
		}
		w.q.push(e)
		if !w.stream {
			w.delivered, w.behind, w.cursor = true, false, i+1
			return
		}
	}
	w.cursor = end + 1
	w.behind = false
}

// catchUp runs one bounded history scan for a watcher that is behind.
func (w *Watcher) catchUp() {
	w.s.mu.RLock()
	w.mu.Lock()
	if w.behind && !w.closed && w.err == nil {
		w.fillLocked(catchUpBudget)
	}
	w.mu.Unlock()
	w.s.mu.RUnlock()
}

func (w *Watcher) next(ctx context.Context) (*Event, error) {
	for {
		w.mu.Lock()
		switch {
		case w.closed:
			w.mu.Unlock()
			return nil, io.EOF
		case w.err != nil:
			err := w.err
			w.mu.Unlock()
			return nil, err
		case w.q.n > 0:
			e := w.q.pop()
			w.mu.Unlock()
			return e, nil
		case w.delivered:
			w.mu.Unlock()
			return nil, io.EOF
		}
		behind := w.behind
		w.mu.Unlock()
		if behind {
			w.catchUp()
			continue
		}
		select {
		case <-w.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (w *Watcher) startIndex() uint64 { return w.start }

func (w *Watcher) close() {
	h := &w.s.hub
	h.mu.Lock()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		h.mu.Unlock()
		return
	}
	w.closed = true
	w.q.clear()
	h.unregisterLocked(w)
	h.open--
	w.mu.Unlock()
	h.mu.Unlock()
	w.wake()
}

// clearAllLocked ends every registered watcher with error 400, as a restore
// replaces the state they were following. Requires Store.mu held for writing.
func (h *hub) clearAllLocked(idx uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.groups {
		for _, w := range g.ws {
			w.mu.Lock()
			w.err = apierr.New(apierr.WatcherCleared, "", idx)
			w.q.clear()
			w.group = nil
			w.mu.Unlock()
			w.wake()
		}
	}
	clear(h.groups)
	h.paths.Clear()
}
