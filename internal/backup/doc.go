// Package backup copies a member's data dir into a new one that starts as a
// new single-member cluster: etcdctl v2's "backup" followed by etcd's
// --force-new-cluster, in one step (arborctl backup).
//
// It owns reading a data dir offline and writing the fresh one. It does not
// own the formats (packages wal, snap, store), the meaning of log entries
// (server.ApplyEntry) or the restart rules (package raftnode), which it
// follows.
//
// # How
//
// Rather than copying files, Run rebuilds the member's state the way a
// restart does: it loads the newest valid snapshot into a store, reads the
// WAL after it (wal.ReadAll: never writes, leaves a torn tail out as a
// restart would cut it) and applies the entries. It then writes
//
//	<backup>/snap/<term>-<index>.snap   the store at the applied index, with a
//	                                    ConfState of only the new member
//	<backup>/wal/0000000000000000-...   metadata: a new raftnode.Identity (new
//	                                    member and cluster IDs, same name);
//	                                    a snapshot marker and a hard state
//	                                    {Term, Commit: index}, no entries
//
// which raftnode.Start restarts from like any member after a snapshot. The
// store (keys, values, TTLs, created and modified indexes, the store index
// behind X-Etcd-Index, the last leader time for TTL extension) and the Raft
// index are kept; the member and cluster IDs are new, so the copy can never
// be mistaken for, or talk to, the original cluster.
//
// Which entries count: a single voter's restart commits every entry in its
// log (it wins its own election and commits its whole log), so for a
// single-voter source every entry read is applied, even those written
// after the last commit index the WAL recorded: that index may lag the
// writes already acknowledged. When the log names more than one voter, only
// entries up to the recorded commit index are applied, as etcd's
// --force-new-cluster discards uncommitted entries.
//
// # Running members
//
// The source is only ever read: the data dir's lock is not taken (a running
// member holds it), and nothing in it is created, repaired or removed. Read
// from a running member, the snapshot and log may change underneath: a
// segment may be released after the snapshot that covers it was replaced,
// or a record read half-written. Each such race surfaces as an error from
// the snapshot or WAL read, and Run starts over from the snapshot, a few
// times, before giving up with the last error (which, on a stopped member,
// is real damage and names the file and offset). The copy then holds the
// state at some moment during the backup.
//
// Usage:
//
//	res, err := backup.Run(backup.Config{DataDir: "/var/lib/arbor", BackupDir: "/backups/arbor"})
//	// errors.Is(err, backup.ErrNotDataDir), errors.Is(err, backup.ErrBackupDirNotEmpty)
//	// then: arbor -data-dir /backups/arbor
package backup
