// Package store is Arbor's v2 key tree: nodes and directories, TTLs, in-order
// keys, compare-and-swap/delete, the event history and the watch hub. It is
// pure and deterministic: no I/O, no goroutines, no clock reads; time
// arrives in Request.Time and in Get's now argument.
package store
