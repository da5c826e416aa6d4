// Package client is the Go client for Arbor's (and etcd's) v2 HTTP API:
// keys and directories, compare-and-swap, TTLs, in-order keys, watches,
// the member list and health. arborctl is built on it.
//
// It owns the wire format on the client side (request paths, query and
// form parameters, decoding answers, headers and error bodies), endpoint
// failover and watch resumption. It does not own retries of failed writes
// (a write whose answer was lost may or may not have happened; the caller
// decides whether to repeat it, typically with a prevIndex condition) nor
// any caching.
//
// # Usage
//
//	c, err := client.New(client.Config{
//		Endpoints: []string{"http://127.0.0.1:4001", "http://127.0.0.1:2379"},
//		Timeout:   2 * time.Second,
//	})
//	resp, err := c.Set(ctx, "/svclocation", "10.1.1.20:80", client.SetOptions{})
//	resp, err = c.Get(ctx, "/svclocation", client.GetOptions{})
//	var e *client.Error
//	if errors.As(err, &e) && e.Code == client.CodeKeyNotFound { ... }
//
//	w := c.Watcher("/example", client.WatcherOptions{Recursive: true})
//	for {
//		resp, err := w.Next(ctx) // resumes from the last event + 1
//		...
//	}
//
// # Failover
//
// A request goes to the endpoint that answered last. If it cannot be
// reached, does not answer within Config.Timeout, or answers 5xx, the next
// endpoint is tried, and so on once round the list; if all fail the error
// is a *ClusterError listing each endpoint's failure. Cancelling the
// context stops at once with the context's error. Sync replaces the
// endpoints with the client URLs the cluster publishes.
//
// # Watches
//
// A Watcher long-polls (wait=true&waitIndex=N) and, after each event,
// asks for the event's index + 1, so consecutive Next calls see every
// event the server's history holds. A watch "from now" (AfterIndex 0)
// pins "now" to the X-Etcd-Index of its first answer's headers, so a poll
// that ends without an event, or a reconnection, does not skip what
// happened meanwhile. WatcherOptions.Stream uses one open response for
// many events instead; Watch wraps a Watcher in a goroutine and a channel.
//
// # Concurrency
//
// A Client is safe for concurrent use; its only mutable state is the
// endpoint list and which endpoint is tried first, guarded by a mutex that
// is never held across I/O. A Watcher belongs to one goroutine.
package client
