// Package cluster is the test harness for Arbor clusters: N members in
// one process, each a server.Server behind real HTTP listeners on
// 127.0.0.1 (client port: httpapi over the server; peer port: the
// server's peer handler), wired as cmd/arbor wires them. Member 0
// bootstraps the cluster and the others join through the members before
// them, as with -peers. Every member dials its peers through one
// faultnet.Network, so a test can partition, block, delay or break the
// traffic between members and heal it; members can be stopped and
// restarted on the same data dir and ports (they keep identity and data).
//
// It owns the members' listeners, HTTP servers and data dirs (under the
// test's temporary directory) and stops them all when the test ends,
// failing the test if a goroutine the cluster started is still running.
// It does not own the network's faults (the test sets and heals them) or
// the clients' load.
//
// The fault tests here use it: a leader partitioned into a minority,
// lossy and slow links under load, members stopped and restarted, and a
// linearizability check (porcupine) of concurrent set, compare-and-swap
// and quorum-get histories recorded while faults happen. Writes whose
// outcome a client cannot know (timeouts, 5xx answers) are modelled as
// possibly applied, not dropped.
//
// Test budget: the randomized fault tests inject faults for a few seconds
// by default, so `go test ./...` stays fast. Longer runs:
//
//	ARBOR_FAULT_TIME=5m go test -race -run 'Linearizable|Lossy' ./internal/cluster
//
// ARBOR_FAULT_TIME sets how long each randomized test injects faults (a
// Go duration); with it set, the linearizability test also runs on five
// members. Each run logs its fault seed; ARBOR_FAULT_SEED=<seed> replays
// the same fault choices (timing still varies). On a linearizability
// violation the test writes porcupine's visualisation to its artifact
// directory and logs the path; run with -artifacts to keep it.
//
// Usage:
//
//	c := cluster.New(t, cluster.Options{Size: 3})
//	lead := c.Leader()
//	c.Partition(lead)                       // lead alone on one side
//	r := c.Member(lead).Put(ctx, "/k", "v", nil) // fails or times out
//	c.Heal()
//	c.Stop(1); c.Restart(1)
//	c.WaitConverged(10 * time.Second)       // same store digest everywhere
package cluster
