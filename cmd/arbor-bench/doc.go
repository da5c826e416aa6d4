// Command arbor-bench is a load generator for the etcd v2 keys API. It
// drives arbor and etcd (--enable-v2) the same way, so scripts/perf.sh can
// put their figures side by side.
//
// Modes:
//
//	put    PUT random keys of a key space, -clients at a time, for -duration
//	       or -total requests
//	get    write the keys of the key space that are missing, then GET random
//	       keys (with -quorum, quorum=true)
//	fill   write -keys distinct keys once each and report how long it took,
//	       the latency tail, writes slower than 100 ms ("stalls"), and with
//	       -check-rss-pid the server's resident memory
//	watch  -watchers recursive watchers (long poll or stream) on -prefix while
//	       one writer sends -rate writes/s; every watcher's events are checked
//	       against the acknowledged writes: lost, duplicated, out of order, and
//	       the delay from sending a write to each watcher receiving it
//	table  read the JSON lines of earlier runs and print a Markdown table
//	       comparing the labels (e.g. arbor against etcd)
//
// Every run prints a short human summary and then exactly one JSON line;
// -json-only leaves only the JSON line. Failed requests (non-2xx answers,
// connection errors, timeouts) are tallied by kind and never stop a run, and
// every run is bounded: by -duration, by -total, by the per-request
// -timeout, and for watch by -drain after the last write.
//
// What it does not do: it has no dependency beyond the standard library,
// and it is not a correctness checker for anything but watch delivery.
//
// Latencies go into a log-bucketed histogram (hist.go) whose quantiles are
// within about 0.4% of the exact nearest-rank values, with memory bounded by
// the largest latency rather than by the number of requests.
//
// Example:
//
//	arbor-bench -endpoints http://127.0.0.1:2379 -clients 64 -duration 10s put
//	arbor-bench -watchers 1000 -watch-mode longpoll -rate 200 watch
//	arbor-bench table perf-results/20250101-120000.jsonl
package main
