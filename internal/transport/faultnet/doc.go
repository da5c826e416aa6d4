// Package faultnet is a real loopback network with injectable faults, for
// in-process cluster tests: members talk over genuine TCP connections on
// 127.0.0.1, and a test can block, delay or break the traffic between any
// two of them by member ID, then heal it.
//
// A Network learns which member owns an address when the member listens
// through it (Listen, or Register for a listener made elsewhere), and which
// member dials from the Dialer it was given. Every connection is wrapped on
// the dialing side only; that one wrapper gates both directions, since the
// dialer's writes are traffic from it to the listener and its reads are the
// traffic back. Faults are per direction (from, to):
//
//   - Block: bytes in that direction stop, as on a partitioned network:
//     writes and reads wait (honouring deadlines and Close) and resume, in
//     order and intact, after Heal. New connections between the two wait
//     for the heal or their dial timeout, like lost SYNs. Nothing is
//     refused, so the code under test must notice silence by itself.
//   - Delay: every read or write in that direction waits the given time
//     first. Besides latency this allows one read or write per delay on a
//     connection; transports that batch hardly notice.
//   - Drop: every read or write in that direction breaks its connection
//     with the given probability, losing whatever was in flight. A byte
//     stream cannot lose one message and carry on, so this is how a lossy
//     link shows up to TCP users.
//
// Partition and Isolate are shorthands for Block in both directions; Heal
// clears every fault. Faults apply to connections already open as well as
// to new ones, and rule changes wake waiting operations at once.
//
// Usage:
//
//	nw := faultnet.New()
//	ln, _ := nw.Listen(1, "127.0.0.1:0")          // member 1's peer listener
//	tr, _ := transport.New(transport.Config{MemberID: 1, DialContext: nw.Dialer(1), ...})
//	nw.Partition([]uint64{1}, []uint64{2, 3})     // 1 cannot talk with 2 or 3
//	nw.Heal()
package faultnet
