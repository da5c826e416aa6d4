// Package wal is Arbor's write-ahead log: the durable record of Raft's
// entries, hard state and snapshot positions, kept as a sequence of
// segment files of CRC-protected records.
//
// It owns the bytes on disk and their recovery rules. It does not own the
// snapshots themselves (package snap), the decision of when to snapshot
// or release (package raftnode), or the meaning of entries and metadata,
// which are opaque here.
//
// # Files
//
// A WAL is a directory of segment files named
//
//	<seq>-<first>.wal        e.g. 0000000000000003-00000000000004e2.wal
//
// with seq and first as 16 lower-case hex digits. seq numbers the segments
// consecutively from the oldest live one; a gap is corruption. first is the
// index after the log's last entry when the segment was started, a hint for
// people reading a directory listing: entries overwritten by Raft can make
// later segments hold lower indexes. A segment is created as
// <seq>-<first>.wal.tmp, filled with its head records, synced, renamed into
// place and the directory synced, so a segment file either does not exist
// or has a complete head. Leftover .wal.tmp files are deleted by Open and
// Create.
//
// Each segment reserves DefaultSegmentSize bytes when created, so the file
// size does not change as records are appended and fdatasync has no size
// to update. Once a segment is half full, the next one is written ahead,
// in the background, as spare.wal.tmp: DefaultSegmentSize zero bytes,
// made durable 8 MiB at a time. A segment started from it has its blocks written already, which
// makes each fdatasync cheaper (~15% here) than in fallocate'd space,
// whose blocks the file system must first mark as holding data. If the
// spare is not ready (or failed), the segment is fallocate'd at once
// instead; the first segment of a new log always is. Once a batch would
// push a segment past its size, it is truncated to its data and the next
// one started. A batch is never split, so an oversized batch makes an
// oversized segment.
//
// # Segment layout
//
//	+----------------+  offset 0
//	| segment record |  format version, seq (must match the name)
//	+----------------+
//	| metadata       |  caller's bytes given to Create, identical in every segment
//	+----------------+
//	| snapshot       |  latest snapshot marker, if any was recorded      } repeated so that
//	+----------------+                                                   } releasing older
//	| hard state     |  latest hard state, if any was saved              } segments loses nothing
//	+----------------+
//	| entry          |
//	| entry          |  appended by Save: entries, then the hard state,
//	| hard state     |  one write and one fdatasync per call
//	| snapshot       |  appended by SaveSnapshot
//	| ...            |
//	+----------------+  end of valid data: where the next append goes
//	| 00 00 00 ...   |  reserved, still zero
//	+----------------+  end of file
//
// # Record layout
//
//	 0               4               8   9
//	+---------------+---------------+---+---------------------------+
//	| length uint32 |  crc uint32   |typ| payload (length bytes)    |
//	+---------------+---------------+---+---------------------------+
//
// Integers are little-endian. length counts the payload only and is at most
// MaxRecordSize. crc is CRC-32C (Castagnoli) over the length, type and
// payload bytes, i.e. the whole record except the crc field. It is per
// record, not chained: each segment stands alone, so releasing old segments
// needs no bookkeeping, while the segment record (seq), the name check and
// the seq-gap check catch misplaced files. Types: 1 segment (uint32 version,
// uint64 seq), 2 metadata (opaque), 3 entry (raftpb.Entry), 4 hard state
// (raftpb.HardState), 5 snapshot marker (uint64 index, uint64 term). Type 0
// does not exist, so a zeroed header is "nothing written here".
//
// # Recovery: torn versus corrupt
//
// Open reads every segment in order. Each Save is one write followed by one
// fdatasync, and Save does not return before the sync, so a crash can only
// damage the bytes of the last, unacknowledged write at the end of the last
// segment. Hence:
//
//   - A zeroed header followed only by zeros (or EOF) is the clean end of a
//     segment, in any segment.
//   - In the last segment, a record that runs past the end of the file, or
//     that fails its CRC or has an impossible length while every byte after
//     its claimed extent is zero, is a torn tail. Open truncates the file
//     there (logging path, offset and dropped bytes), re-reserves the space
//     and syncs; the caller had not been told any of it was durable.
//   - Anything else is corruption and Open returns a *CorruptError naming
//     the file and the offset of the bad record, without touching any
//     file: a bad record with non-zero data after it, any damage in an
//     earlier segment, a record with a valid CRC but unknown type or an
//     undecodable payload, a zeroed header followed by data, a missing
//     segment, or a segment whose head is incomplete or does not match.
//
// The rule is deliberately conservative: a power cut that persists the
// pages of the last write out of order (a hole of zeros with written data
// after it) is reported as corruption rather than guessed to be a torn
// write, because guessing wrong would silently drop acknowledged entries.
// An operator can cut the file at the reported offset after checking.
//
// Entries are replayed as Raft wrote them: a later entry for index i
// replaces the earlier one and everything after it. Open returns only the
// entries after the caller's snapshot index, contiguous from snapIndex+1;
// if the log skips indexes there, or records a snapshot after snapIndex
// that replaced the log (its index's entry is absent or of another term),
// Open fails with ErrSnapshotMismatch: the caller needs a newer snapshot.
//
// # Usage
//
//	if !wal.Exist(dir) {
//		w, err = wal.Create(dir, metadata, log)
//	} else {
//		meta, _ := snap.Load(snapDir, log, restore) // or index 0 if none
//		w, metadata, hs, ents, err = wal.Open(dir, meta.Index, log)
//		// on *wal.CorruptError: refuse to start, print it
//	}
//	// Ready loop (one goroutine):
//	//   if snapshot: snap.Save(...); w.SaveSnapshot(index, term)
//	//   w.Save(rd.HardState, rd.Entries)        // durable on return
//	// after a local snapshot at index i:
//	//   snap.Save(...); w.SaveSnapshot(i, term); r, _ := w.Release(i)
//	//   r.Remove() // on another goroutine: it deletes gradually
//
// Release never releases beyond the last SaveSnapshot, nor the segment
// being written; ReleaseTo is Release and Remove in one call. A WAL is used by one goroutine at a time and has no locks.
// Fsync latency is exported as arbor_wal_fsync_duration_seconds through
// Collectors, for the caller to register.
package wal
