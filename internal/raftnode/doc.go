// Package raftnode owns the go.etcd.io/raft node of one member and its
// Ready loop: it persists hard state and entries to the WAL (one fdatasync
// per Ready, so concurrent proposals share it), sends messages through a
// Transport, hands committed entries to the member's apply loop in log
// order, answers batched ReadIndex requests, and compacts the log once the
// member reports a durable snapshot.
//
// It does not know what entries mean: the server decodes and applies them,
// and tells the node about applied configuration changes and snapshots.
//
// Goroutines: Start launches the Ready loop (the only goroutine that touches
// the WAL and calls Advance) and the tick loop; Stop ends and waits for both.
// Everything else (Propose, ReadIndex, Status, SnapshotSaved) may be called
// from any goroutine.
//
// Usage:
//
//	n, err := raftnode.Start(cfg, restoreStore)
//	go func() { for a := range n.Apply() { applyAll(a.Entries); a.Done() } }()
//	err = n.Propose(ctx, data)
//	idx, err := n.ReadIndex(ctx) // then wait until applied >= idx
//	n.Stop()
//
// On disk, the member's data dir holds "wal/" (package wal) and "snap/"
// (package snap). Restart loads the newest valid snapshot through the
// caller's restore function, then reads the WAL entries after it.
package raftnode
