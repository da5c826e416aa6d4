// Package compat is a differential test of Arbor against the real etcd 3.4
// run with --enable-v2, the behavioural reference for the v2 API.
//
// Each test starts one fresh etcd and one fresh arbor (built from this
// checkout) on free 127.0.0.1 ports with temporary data dirs, replays the
// same table of HTTP requests against both, and compares the answers step
// by step: status code, Content-Type, the presence of X-Etcd-Index,
// X-Raft-Index, X-Raft-Term and X-Etcd-Cluster-ID, the X-Etcd-Index value,
// Allow and Location, and the body. JSON bodies are compared three ways:
// as a canonical re-encoding (content), by the raw field order of the
// top-level and node objects, and byte for byte against what
// encoding/json, which etcd uses, writes for them (string escaping,
// spacing, the trailing newline). Other bodies are compared as text.
//
// The two servers cannot agree on absolute numbers, so both answers are
// normalised before comparing:
//
//   - Indexes. etcd 3.4 keeps its membership and cluster version in the
//     same v2 store, so its index starts elsewhere. Every index (headers,
//     createdIndex, modifiedIndex, an error's index, the 20-digit names of
//     in-order keys) becomes relative to the index the server reported for
//     the sequence's first write, which is numbered 1. Requests that carry an
//     index (prevIndex, waitIndex) are written with {idx:N} and translated
//     the other way for each server.
//   - "expiration" becomes a marker saying whether it parsed and lies in the
//     future or the past of the response; "ttl" may differ by one second.
//   - "nodes" are compared as a set unless the request asked for sorted=true.
//   - Member IDs and the servers' own URLs become markers.
//
// Some answers differ on purpose (arbor's /version carries an "arbor"
// field and reports etcdserver 2.3.8, /v2/stats/self has a "role" field,
// /v2/stats/leader may be shaped differently, a stream watch that starts
// in the history keeps streaming); those steps compare field names, status
// or the first event only, as each step says. Any other difference in
// arbor makes the test fail, except the ones listed in knownDifferences,
// which are logged with their reason so the owners can fix them; deleting
// an entry is all it takes to enforce that check again.
//
// A step is a request (method, path and query, form body) or the
// collection of a watch started earlier; each sequence's steps run in
// order, and a test runs its sequences one after the other on its own pair
// of servers. Tests run in parallel. TestStoreStatsCounters compares how
// each request moves the /v2/stats/store counters rather than their
// values. COMPAT_VERBOSE=1 logs both answers to every step; after a full
// run, entries of knownDifferences that no longer reproduce are listed
// (COMPAT_STRICT=1 makes that a failure).
//
// Without etcd installed every test skips and says so ("make deps" installs
// it). The tests stop only the processes they started, by PID.
package compat
