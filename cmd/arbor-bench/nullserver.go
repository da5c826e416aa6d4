package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// nullServer is the floor the put and get figures are read against: a
// net/http server that does only what any v2 API server must do for a
// request (read it, parse its form, answer an etcd-shaped JSON body with
// etcd's headers) and nothing a store does (no log, no fsync, no tree).
// "put c=64 at 2× etcd" means little without knowing how close that is to
// what the HTTP layer alone allows on the same machine.
type nullServer struct {
	index atomic.Uint64
}

func (n *nullServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v2/keys/") {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	idx := n.index.Add(1)
	action, status := "get", http.StatusOK
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		action, status = "set", http.StatusCreated
	case http.MethodDelete:
		action = "delete"
	}
	is := strconv.FormatUint(idx, 10)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Etcd-Cluster-Id", "7e27652122e8b2ae")
	h.Set("X-Etcd-Index", is)
	h.Set("X-Raft-Index", is)
	h.Set("X-Raft-Term", "2")
	w.WriteHeader(status)
	key := strings.TrimPrefix(r.URL.Path, "/v2/keys")
	fmt.Fprintf(w, `{"action":%q,"node":{"key":%q,"value":%q,"modifiedIndex":%s,"createdIndex":%s}}`+"\n",
		action, key, r.Form.Get("value"), is, is)
}

// runNullServer serves nullServer on addr until ctx ends.
func runNullServer(ctx context.Context, addr string, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "null-server listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: &nullServer{}, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
