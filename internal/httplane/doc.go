// Package httplane serves the plain HTTP/1.1 requests that make up almost
// all of a client port's load (reads and writes of keys) on a lean
// connection loop, and hands every connection that sends anything else to
// a net/http server, which serves it from then on.
//
// Why: per request, net/http spends about as much CPU as the store, the
// log and Raft together (a request context, a background read for
// disconnect detection, header canonicalisation, chunking machinery, pooled
// buffers and a goroutine hand-off). A do-nothing handler answers ~1.5×
// more requests per second on this loop than under net/http.
//
// What the lane serves itself, and only that: HTTP/1.1 requests whose
// target starts with a path prefix the caller names (/v2/keys), with
// method GET, PUT, POST or DELETE, every line ending in CRLF (not a bare
// line feed), no Transfer-Encoding, Expect or Upgrade
// header, at most one Content-Length, the whole header block and body
// within the connection's read buffer, a form that parses, and no form
// field the caller marks as needing net/http (wait, for watches, whose
// responses stream). The answer is buffered whole and written with a
// Content-Length, unless the handler set none and it grows past 128 KiB (a
// large directory listing): it is then sent chunked as it is written. Anything else, from the first request on or after any
// number of lane requests, goes to net/http with every byte the client
// sent: the lane only peeks at a request until it has decided to serve it.
// So malformed input, TLS, HTTP/1.0, chunked bodies, 100-continue, large
// bodies and watches all get net/http's behaviour.
//
// It owns the connections it serves (timeouts, keep-alive, shutdown); the
// handler is the same http.Handler net/http serves. Requests served here
// carry the Server's base context: a client that goes away mid-request is
// noticed when its answer is written, not before (these requests are short;
// watches, which must notice at once, are net/http's).
//
// Usage:
//
//	hs := &http.Server{Handler: h, ReadTimeout: rt, WriteTimeout: wt, BaseContext: base}
//	ls := &httplane.Server{HTTP: hs, Prefix: "/v2/keys", NeedsHTTP: []string{"wait"}}
//	go ls.Serve(ln)
//	...
//	ls.Shutdown(ctx)
package httplane
