// Package httpapi serves the etcd v2 client API over HTTP: /v2/keys (reads,
// writes, watches), /version, /health, /v2/stats/{self,store,leader},
// /v2/machines, /v2/leader, /v2/members and /metrics. It matches etcd 3.4
// run with --enable-v2 (status codes, headers, JSON bodies byte for byte,
// parameter checks in the same order with the same error codes and causes),
// plus etcd 0.4's /v2/leader.
//
// It owns parsing and validating requests, turning a TTL into an absolute
// expiration (the one place a wall clock is read for a write), writing
// events and errors, CORS, and the request metrics. It does not own
// consensus, the store or membership: everything it needs from the member
// is the Backend interface, which internal/server implements. It never
// imports raft.
//
// Every error reaches the client through one adapter: an *apierr.Error is
// written with its status and index; a context deadline is etcd's "request
// timed out" (300, HTTP 500); any other error is a 300 with its text as the
// cause. A panic in a handler is logged and answered with a 500 JSON error.
//
// Watches (wait=true) hold the request open. A long poll answers with one
// event; stream=true answers with one event per line until the client goes
// away or the request's context ends. net/http does not cancel request
// contexts on Shutdown, so to end open streams when the server stops, give
// http.Server a BaseContext that is cancelled on shutdown (and no
// WriteTimeout, which would cut long polls). The watcher is always closed
// when the handler returns.
//
// Usage:
//
//	h := httpapi.New(member, httpapi.Options{Version: version, Gatherer: reg})
//	for _, c := range httpapi.Collectors() {
//		reg.MustRegister(c)
//	}
//	srv := &http.Server{Handler: h, BaseContext: func(net.Listener) context.Context { return stopCtx }}
package httpapi
