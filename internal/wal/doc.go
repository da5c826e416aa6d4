// Package wal implements Arbor's write-ahead log: segment files of
// CRC-protected records holding raft entries and hard states.
package wal
