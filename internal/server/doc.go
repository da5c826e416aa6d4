// Package server is one Arbor member: it turns client writes into Raft
// proposals and waits for them, applies committed entries to the store in
// log order, serves reads (local, or linearizable through ReadIndex), keeps
// TTL time flowing through the log, takes snapshots, and reports status.
//
// State owners:
//   - the apply goroutine alone calls store.Apply and store.Snapshot, and
//     advances the applied index;
//   - the proposer goroutine batches pending writes into one log entry;
//   - the clock goroutine proposes Extend and Sync entries while leader;
//   - the wait registry maps request IDs to their waiting callers.
//
// Log entry format (EntryNormal data), version 1:
//
//	byte 0x01 | uvarint count | count × (uvarint len | store.Request bytes)
//
// One entry carries every write that was pending when the proposer ran,
// and every write that arrived while the Raft loop was busy with the
// previous Ready, so concurrent clients share one Raft round and one WAL
// fsync.
//
// Usage:
//
//	s, err := server.Start(cfg)
//	ev, err := s.Write(ctx, &store.Request{Method: store.MethodPut, Path: "/a", Val: "1"})
//	s.Stop()
package server
