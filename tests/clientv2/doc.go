// Package clientv2 proves that etcd's official Go client for the v2 API,
// go.etcd.io/etcd/client/v2, works against Arbor unchanged.
//
// The tests build cmd/arbor, start it as a separate process on free
// 127.0.0.1 ports with a temporary data dir (internal/testutil.StartArbor),
// and drive it only through the official client: Set (with its
// preconditions and TTL), Get (recursive, sorted), Delete, CreateInOrder, a
// Watcher with AfterIndex and Recursive, and the members API (List,
// Leader, and the client's own Sync). Every assertion names the exact value
// etcd returns (the expectations were checked by running these tests
// against etcd 3.4.23 with --enable-v2), so a change in Arbor's behaviour
// fails a test rather than passing unnoticed.
//
// Only the test files use the client: the package has no code of its
// own, and nothing else in the module imports etcd's client.
package clientv2
