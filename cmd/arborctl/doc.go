// Command arborctl is the command line client for Arbor, compatible with
// etcdctl v2 (ETCDCTL_API=2 etcdctl of etcd 3.4): the same commands,
// global flags before the command, output formats (-o simple, extended,
// json) printed byte for byte the same, the same messages on stderr and the
// same exit codes, so that scripts written for etcdctl keep working.
//
// It owns argument parsing, output and exit codes; everything on the wire
// is the client package's. One file per command, each built by a
// constructor (newXCommand) over the shared app (I/O, environment, global
// flags), so that tests run commands in-process against an httptest
// server.
//
// Exit codes: 0 success; 1 bad arguments (or "is a directory"); 2 the
// cluster could not be reached while syncing; 3 unknown command; 4 the
// server answered with an error or no endpoint answered; 5 cluster-health
// found the cluster degraded or unavailable; 130 interrupted (except
// watches, which end with 0 on Ctrl-C).
//
// Deliberate differences from etcdctl: an endpoint without a scheme
// ("--peers 10.1.1.7:4001") means http:// as in etcd 0.4's etcdctl;
// endpoints are tried in the given order rather than shuffled; flags may
// also follow positional arguments anywhere (cobra), where etcdctl's
// parser treats "-p / --recursive" oddly; exec-watch --after-index N starts
// after N as documented (etcdctl 3.4 skips one more event) and runs the
// command for one event before watching for the next, so outputs never
// interleave; "member remove <name>" suggests "arborctl member remove
// <id>"; usage errors are worded by cobra; backup writes a data dir that
// starts as a new one-member cluster by itself (etcd needs
// --force-new-cluster), takes --wal-dir and --backup-wal-dir only as
// <dir>/wal, and is the one command that reads files (internal/backup)
// rather than using the client; there are no user, role and auth commands.
//
// Tests: testdata/*.golden are etcdctl sessions recorded from etcd 3.4
// (golden_test.go, record_test.go; re-record with -update) that arborctl
// must reproduce byte for byte; seeds_test.go runs the seed articles'
// commands with both tools against one etcd.
package main
