// Package snap writes and loads Arbor's snapshot files: a serialised store
// plus the Raft position (index, term, membership) it corresponds to.
//
// It owns the file format, atomic creation, choosing the newest usable file
// and cleaning up. It does not own what the body contains (the store
// serialises itself through the write and restore callbacks), when to
// snapshot, or the WAL records that point at snapshots (package wal).
//
// # Files
//
// A snapshot directory holds files named
//
//	<term>-<index>.snap                e.g. 0000000000000007-00000000000003e8.snap
//	<term>-<index>.snap.<random>.tmp   a Save in progress, or one a crash interrupted
//
// with term and index as 16 lower-case hex digits. Load considers only
// exact .snap names, newest first by index, then term; the header must
// agree with the name, so a renamed file is not trusted.
//
// # File layout
//
//	 0        8        12       16
//	+--------+--------+--------+-------------------------------+-----------+
//	| magic  |version | metaLen| meta (metaLen bytes)          | headerCRC |  header
//	|ARBORSNP| uint32 | uint32 | index u64, term u64, ConfState| uint32    |
//	+--------+--------+--------+-------------------------------+-----------+
//	| body: whatever the write callback produced, any length               |
//	+----------------------------------------------------+-----------------+
//	| bodyLen uint64                                     | crc uint32      |  trailer
//	+----------------------------------------------------+-----------------+
//
// Integers are little-endian; ConfState is its protobuf encoding; metaLen
// is at most 1 MiB. headerCRC is CRC-32C (Castagnoli) over the bytes before
// it, so Load can reject a damaged header before calling restore. crc is
// CRC-32C over everything before it (header, body, bodyLen). bodyLen must
// equal the file size minus header and trailer, which catches truncation
// cheaply, before the body is read.
//
// # Writing
//
// Save streams the body through a 256 KiB buffer into a temp file, appends
// the trailer, fsyncs, renames the file to its final name and fsyncs the
// directory. A crash at any point leaves the previous snapshots intact and
// at most a temp file, which Load ignores and Purge removes (except temp
// files of Saves still running in this process). Saving the same term and
// index twice replaces the file atomically.
//
// # Loading and recovery
//
// Load tries files newest first. A file whose header, name or length do not
// check out is skipped without calling restore. Otherwise restore gets the
// Meta and a buffered reader of the body; afterwards Load drains whatever
// restore left unread and checks the CRC over the whole file. A CRC failure
// or a restore error is logged and Load moves to the next older file, so
// restore must reset any state from an earlier attempt. The body is handed
// over before its CRC is known: that is the price of never holding a large
// snapshot in memory, and why a failed attempt must be discarded.
// ErrNoSnapshot means no file could be restored (or there were none).
//
// # Usage
//
//	// writer side, e.g. after applying index i:
//	path, err := snap.Save(dir, snap.Meta{Index: i, Term: t, ConfState: cs},
//		func(w io.Writer) error { return store.WriteTo(w) })
//	// then wal.SaveSnapshot(i, t), wal.ReleaseTo(i), snap.Purge(dir, 5)
//
//	// on start:
//	meta, err := snap.Load(dir, log, func(m snap.Meta, r io.Reader) error {
//		st = store.New()         // reset: this may be a second attempt
//		return st.ReadFrom(r)
//	})
//	if errors.Is(err, snap.ErrNoSnapshot) { /* start from an empty store */ }
//
// Save, Load and Purge keep no state between calls beyond the set of temp
// files being written, and may be called from different goroutines. Save
// latency is exported as arbor_snap_save_duration_seconds through
// Collectors, for the caller to register.
package snap
