// Package store is Arbor's v2 key tree: keys and directories, TTLs, in-order
// keys, compare-and-swap/delete, the event history and the watch hub, with
// etcd 3.4's v2 semantics (codes, causes, indexes, JSON shapes).
//
// It is pure and deterministic: no I/O, no goroutines, no clock reads. Time
// arrives in Request.Time (used for the "ttl" shown in write results and as
// the leader's clock for MethodSync/MethodExtend) and in Get's now argument.
// Given the same sequence of Requests, every member reaches the same state,
// indexes and events. It knows nothing of Raft, HTTP or files: the server
// feeds it committed Requests, the HTTP layer reads and watches it, and the
// snap package stores what Snapshot.WriteTo writes.
//
// # Data layout
//
// The tree is a copy-on-write btree (github.com/tidwall/btree BTreeG) of
// entry values keyed by full path ("/a/b"), in byte order. An entry is 48
// bytes with one pointer: the key and value share one allocation (kv), and
// the created/modified indexes, expiration and dir flag sit beside it. There
// are no per-node maps or parent pointers, so a million keys cost a million
// small allocations and little GC scanning. The root is implicit.
//
// A directory's children are the keys starting with dir+"/". Listing one
// level walks that range in order and, on meeting a deeper key, seeks past
// that child's subtree (dir+"/name0": '0' is the byte after '/'). Siblings
// such as "a!b" sort between "a" and "a/...", which is why the scan does
// not simply skip from a directory to the end of its subtree. Children are
// always returned sorted, which costs nothing here.
//
// Read (Get for clients) lists at most 10,000 nodes under the read lock.
// A larger listing would hold off writes for as long as it takes, so Read
// takes a copy-on-write copy of the tree instead (under the write lock for
// an instant, as Snapshot does) and leaves the listing to WriteJSON, which
// encodes it from the copy straight to the connection in 64 KiB pieces.
//
// A second btree orders pending expirations by (expiration, key); MethodSync
// pops from it, MethodExtend shifts it, and Restore rebuilds it.
//
// Deleting or expiring a directory drops its subtree, one key range, with
// the btree's DeleteRange, which unlinks whole btree nodes inside the range
// instead of deleting key by key. Only the subtree's TTLs are removed one
// by one; they are found by walking the subtree or the TTL index, whichever
// is shorter. A directory of a million keys goes in milliseconds instead of
// holding the write lock (and every write behind it) for over a second.
//
// # Events and history
//
// Every successful write increments the index by one and emits one *Event,
// including TTL refreshes (which are never delivered) and each expiry of a
// Sync. The history is a ring of the last Config.HistorySize events indexed
// by their index. Events are immutable and shared by the history, results
// and watchers; Encode computes the JSON once. Do not copy an Event by value.
//
// # Watchers
//
// A Watcher never silently loses events. The hub (watchers grouped by path)
// pushes each matching event onto the watcher's small bounded queue and
// wakes it through a capacity-1 signal channel; Apply never blocks. When the
// queue is full the watcher is marked behind with a cursor at the first
// event it did not get; its next Next re-reads the history from the cursor
// under the read lock (in bounded steps) and switches back to live delivery
// once it reaches the store index. Only if the history has already dropped
// the cursor's event does it fail with 401. The same function (matches)
// decides which events a watcher sees live and from the history. Watch
// replays from sinceIndex the same way. A non-stream watcher delivers one
// event, then Next returns io.EOF. Close removes it from the hub at once;
// the HTTP layer must Close every watcher it opened (Stats.Watchers counts
// open watchers, and Config.MaxWatchers bounds them). Restore ends every
// registered watcher with error 400.
//
// # Locks
//
// Lock order: Store.mu, then hub.mu, then Watcher.mu. Apply, Snapshot and
// Restore hold Store.mu for writing (and Read, to copy the tree for a large
// listing); Get, Watch and a watcher's catch-up hold it for reading; Close takes only hub.mu and Watcher.mu; Next waits
// with no lock held. No lock is held across a blocking channel operation:
// wake-ups are non-blocking sends.
//
// # Snapshots
//
// Snapshot is O(1): it takes a copy-on-write copy of the btree under the
// write lock. The apply goroutine keeps writing to the original, copying the
// btree nodes it touches, while another goroutine runs Snapshot.WriteTo over
// the frozen copy. The format (magic "ARBORSNP", version, index, last sync
// time, counters, entries in key order with shared-prefix key compression,
// CRC-32C trailer) is described in snapshot.go. Restore decodes into a new
// tree by bulk loading, checks the checksum and key order, and swaps it in
// only when everything is valid; bad input yields an error matching
// ErrCorrupt, never a panic.
//
// # Where it differs from etcd 3.4 on purpose
//
//   - History replays apply the hidden-key rule as live delivery does
//     (etcd's replay does not), and a deleted or expired directory matches
//     watchers on any path inside it, live and replayed alike (etcd's live
//     path only reaches paths where a node existed).
//   - A stream watcher that starts in the history keeps streaming (etcd's
//     delivered only the first event), and gets each event once (etcd
//     delivered a deleted key's event twice to stream watchers on it).
//   - Expiry order among equal expirations is by key (etcd's heap order is
//     arbitrary); a negative ttl is omitted, like a zero one.
//   - After Restore, a waitIndex at or before the restored index fails with
//     401 rather than waiting forever.
//   - A failed set/create is counted once (etcd counted some twice).
//
// # Usage
//
//	s := store.New(store.Config{})
//	ev, err := s.Apply(&store.Request{Method: store.MethodPut, Path: "/a", Val: "1",
//		Time: now.UnixNano()})                    // apply goroutine only
//	ev, err = s.Get("/a", false, false, time.Now()) // any goroutine
//	w, err := s.Watch("/a", true, true, 0)
//	defer w.Close()
//	for {
//		ev, err := w.Next(ctx) // io.EOF, ctx.Err() or *apierr.Error end it
//		...
//	}
//	sn := s.Snapshot()       // in the apply goroutine, between Applys
//	go sn.WriteTo(file)      // anywhere, while writes go on
package store
