package store

// This file is the contract other packages build against. Every method is
// safe for concurrent use: Apply is called by one goroutine (the apply loop);
// Get, Watch and the rest by any number of others.

import (
	"context"
	"io"
	"time"
)

// Config sizes a Store.
type Config struct {
	// HistorySize is how many events the history keeps for watchers that
	// start from an older waitIndex (default DefaultHistorySize).
	HistorySize int
	// HistoryBytes bounds the keys and values the history holds (0: no
	// bound): the oldest events go while it is exceeded, so a key
	// overwritten with large values does not keep HistorySize of them
	// alive.
	HistoryBytes int64
	// MaxWatchers bounds the number of open watchers (0 = unlimited).
	MaxWatchers int
}

// DefaultHistorySize is the default event history depth.
const DefaultHistorySize = 100_000

// New returns an empty store holding only the root directory, index 0.
func New(cfg Config) *Store { return newStore(cfg) }

// Apply applies one write in log order and returns its event, or an
// *apierr.Error (whose Index is the store index after the failure). A
// MethodSync returns (nil, nil) after emitting one "expire" event per expired
// node; MethodExtend returns (nil, nil). Watchers are notified before Apply
// returns; Apply never blocks on a watcher.
func (s *Store) Apply(r *Request) (*Event, error) { return s.apply(r) }

// Get reads path. now is used only to compute the "ttl" fields shown.
// Children are always listed in key order, which is what sorted asks for.
func (s *Store) Get(path string, recursive, sorted bool, now time.Time) (*Event, error) {
	return s.get(path, recursive, false, now)
}

// Read is Get for answering a client. A directory listing of more than a
// few thousand nodes is not built under the store's lock, which writes
// wait for: the event then lists the children of a copy of the tree taken
// at its EtcdIndex, encoded straight to JSON by AppendJSON, and its Node
// has no Nodes (use Get to inspect children).
func (s *Store) Read(path string, recursive, sorted bool, now time.Time) (*Event, error) {
	return s.get(path, recursive, true, now)
}

// Value reads the value and modified index of the key at path for the
// member itself (its own configuration keys): unlike Get, it counts no
// client statistic and builds no event. ok is false for a missing key or a
// directory. Expirations are the log's business, so a key past its TTL
// still reads until the expiry is applied, as with Get.
func (s *Store) Value(path string) (val string, modified uint64, ok bool) {
	return s.value(path)
}

// Index is the current store index (X-Etcd-Index).
func (s *Store) Index() uint64 { return s.index() }

// Watch starts a watcher on path. sinceIndex 0 means "from the next event";
// otherwise the first event matched is the first at or after sinceIndex,
// taken from the history when it already happened. It fails with error 401
// when sinceIndex fell out of the history, and with 400-range errors for too
// many watchers. stream=false watchers deliver one event.
func (s *Store) Watch(path string, recursive, stream bool, sinceIndex uint64) (*Watcher, error) {
	return s.watch(path, recursive, stream, sinceIndex)
}

// NextExpiration is the earliest pending expiration, or ok=false if no node
// has a TTL. The server uses it to decide when to propose a Sync.
func (s *Store) NextExpiration() (t time.Time, ok bool) { return s.nextExpiration() }

// Stats returns a copy of the counters, with the current watcher count.
func (s *Store) Stats() Stats { return s.stats() }

// Len is the number of keys and directories, excluding the root.
func (s *Store) Len() int { return s.len() }

// Snapshot captures the store's current state in O(1) time. Call it from the
// apply goroutine between two Applys; the returned Snapshot can then be
// written out by another goroutine while writes go on.
func (s *Store) Snapshot() *Snapshot { return s.snapshot() }

// Restore replaces the whole state with one written by Snapshot.WriteTo.
// Open watchers end with error 400 (watcher cleared). On error the store is
// unchanged.
func (s *Store) Restore(r io.Reader) error { return s.restore(r) }

// WriteTo writes the snapshot in the store's binary format.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) { return sn.writeTo(w) }

// Index is the store index captured by the snapshot.
func (sn *Snapshot) Index() uint64 { return sn.storeIndex() }

// Next blocks until the watcher's next event. It returns ctx.Err() when ctx
// ends, and an *apierr.Error when the watcher can no longer deliver events in
// order (401 when its position fell out of the history, 400 after Restore).
// A non-stream watcher returns io.EOF after its one event.
func (w *Watcher) Next(ctx context.Context) (*Event, error) { return w.next(ctx) }

// StartIndex is the store index when the watch began (X-Etcd-Index).
func (w *Watcher) StartIndex() uint64 { return w.startIndex() }

// Close releases the watcher at once. Safe to call more than once.
func (w *Watcher) Close() { w.close() }

// Encode returns the event as the API writes it: JSON plus a newline,
// computed once and shared by every reader (watchers). The result must not
// be modified.
func (e *Event) Encode() []byte { return e.encode() }

// Streamed says whether the event is a large listing from Read, which
// WriteJSON writes in pieces rather than as one buffer.
func (e *Event) Streamed() bool { return e.list != nil }

// WriteJSON writes the same bytes as AppendJSON to w, a large listing in
// pieces of about 64 KiB as it is encoded; it stops at w's first error.
func (e *Event) WriteJSON(w io.Writer) error { return e.writeJSON(w) }

// AppendJSON appends the same bytes as Encode without caching them in the
// event. Use it for a one-off answer (the writer's own response): an event
// kept in the history would otherwise hold its encoding for nobody.
func (e *Event) AppendJSON(b []byte) []byte {
	if p := e.encoded.Load(); p != nil {
		return append(b, *p...)
	}
	return append(appendEvent(b, e), '\n')
}
