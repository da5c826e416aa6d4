// Package transport carries Raft messages between the members of a
// cluster over HTTP on the peer port, and streams snapshots to members
// that lag behind or are new.
//
// It owns the connections, per-peer queues, reconnects, snapshot transfer
// and per-peer statistics. It does not own Raft (messages come in through
// Send and leave through the Raft interface), snapshot files (the
// Snapshots interface opens and stores them), membership (the caller adds
// and removes peers as configuration changes apply) or the listener (the
// caller serves Handler on it).
//
// # Sending
//
// Send never blocks. Each peer has a bounded queue (Config.QueueLen
// messages and Config.QueueBytes bytes); a message that does not fit is
// dropped and reported with Raft.ReportUnreachable, and Raft resends what
// matters. A message for an unknown peer is dropped.
//
// One writer goroutine per peer keeps one streaming POST open to the
// peer's StreamPath and writes whatever is queued as one batch per write
// (up to 1 MiB), so a burst of messages costs one chunk and one flush, not
// one request each. Messages to one peer arrive in the order Send was
// called. When the stream breaks, what is still queued is dropped as
// stale, Raft is told the peer was unreachable, and the writer redials
// with exponential backoff (Config.BackoffMin doubling to BackoffMax, each
// wait jittered to between half and all of it), trying the peer's URLs in
// turn. A peer that is down or partitioned therefore costs the others
// nothing: its queue fills and drops, and no goroutine but its own waits.
//
// Why a streaming POST through net/http rather than a hijacked
// connection: the standard client and server do TLS, keep-alive, proxies
// and deadlines, the receiving side is an ordinary handler that works
// behind any mux or middleware, and HTTP/1.1 allows full duplex (the
// server enables it with http.ResponseController), which the pongs need.
// The client speaks HTTP/1.1 only, so every stream and every snapshot has
// a TCP connection (and flow-control window) of its own.
//
// # Liveness and latency
//
// The writer sends a ping frame when the stream opens and every
// Config.PingInterval; the receiver answers each with a pong on the
// response body. The round trip of each ping is the latency sample for the
// peer's statistics: it travels the same connection and queue as the
// messages, so it includes what a message waits behind a large batch,
// which a separate probe on a fresh connection would miss; and it needs no
// knowledge of Raft message types (matching heartbeats to their responses
// goes wrong when either is lost). A sender that sees no pong for
// Config.IdleTimeout abandons the stream and redials: on a partitioned
// network writes go on succeeding into socket buffers and would never
// fail by themselves. A receiver that reads nothing for IdleTimeout (pings
// keep an idle stream busy) ends the request the same way.
//
// # Snapshots
//
// A MsgSnap never goes on the stream: it would hold up every message
// behind it for as long as the snapshot takes. Send hands it to a
// goroutine of its own (one at a time per peer), which asks
// Snapshots.OpenSnapshot for the body and POSTs to SnapshotPath the
// message frame followed by the body, streamed (chunked) through a 32 KiB
// buffer, so a snapshot of any size is never held in memory. The receiver
// passes the message and a reader of the body to Snapshots.SaveSnapshot,
// then steps the message with Raft.Process, and answers 204. The sender
// reports raft.SnapshotFinish on 204 and raft.SnapshotFailure (plus
// ReportUnreachable) on anything else: a refusal, a broken connection, or
// no progress for IdleTimeout. Chunked encoding marks the end of the body,
// so a sender that dies mid-transfer leaves the receiver with a read error
// rather than a short snapshot that looks whole.
//
// # Receiving
//
// Every request names its sender in headers: X-Arbor-Cluster-Id,
// X-Arbor-From and X-Arbor-To (hex). A request from another cluster, or
// meant for another member (say, one that used to own this address), is
// refused with 412 Precondition Failed and a reason in the body; both sides
// log it, rate-limited, and the sender keeps retrying at its backoff cap
// in case the configuration is fixed. Messages of one stream go to
// Raft.Process in order on the request's goroutine; a slow Raft slows that
// sender's stream through TCP flow control and no other. A newer stream
// from the same sender ends the older one, and RemovePeer ends the
// removed peer's stream: a member removed while it streamed here, which
// missed its own removal, then redials and is refused with 410 Gone.
//
// # Wire format
//
// Both bodies are sequences of frames:
//
//	frame = kind (1 byte) | length (uint32, big-endian) | payload (length bytes)
//
//	kind 1 message  payload is one raftpb.Message in protobuf encoding
//	kind 2 ping     payload is an 8-byte token chosen by the sender
//	kind 3 pong     payload is the token of the ping it answers
//
// POST StreamPath ("/raft/stream"): the request body is message and ping
// frames until the sender closes it; the response (200, sent at once) is
// pong frames. POST SnapshotPath ("/raft/snapshot"): the request body is
// one message frame holding the MsgSnap, then the raw snapshot body to the
// end of the request; the response is 204, or an error status with a
// reason as text. A frame longer than Config.MaxFrameSize ends the stream.
//
// # Goroutines and locks
//
// Per peer: the writer (with one pong reader while a stream is up) and at
// most one snapshot sender. Per inbound request: the server's handler
// goroutine. RemovePeer and Stop end the goroutines they own and wait for
// them; Stop also ends inbound streams and waits for their handlers, so no
// Raft or Snapshots method runs after Stop returns. Lock order:
// Transport.mu before peer.mu; inbound.mu is taken alone. No lock is held
// while calling Raft or Snapshots, or across network I/O.
//
// # Usage
//
//	tr, err := transport.New(transport.Config{
//		ClusterID: cid, MemberID: id, Raft: node, Snapshots: snaps, Logger: log,
//	})
//	peerMux.Handle(transport.PathPrefix, tr.Handler())
//	tr.AddPeer(2, []string{"http://10.0.0.2:2380"})
//	tr.Send(rd.Messages) // from the Ready loop
//	for _, p := range tr.Peers() { ... p.Latency, p.Counts, p.Connected }
//	tr.Stop()
//
// Tests plug faultnet.Network's Dialer into Config.DialContext to block,
// delay and break traffic between members.
package transport
