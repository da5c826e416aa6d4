package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// fakeServer is a small in-memory v2 keys API for tests and examples:
// keys, implicit directories, prevExist, in-order keys, deletes, an event
// history with wait/waitIndex/stream, /v2/members and /health. It answers
// with etcd's JSON shapes and headers; it is not a conformance reference.
type fakeServer struct {
	*httptest.Server

	mu     sync.Mutex // guards everything below
	index  uint64
	keys   map[string]*fakeNode // by full key; directories included
	events []fakeEvent
	// changed is closed and replaced on every event, waking long polls.
	changed chan struct{}
	// requests records "METHOD path?query" of every request, in order.
	requests []string
}

type fakeNode struct {
	key      string
	dir      bool
	value    string
	created  uint64
	modified uint64
}

type fakeEvent struct {
	action string
	node   fakeNode
	prev   *fakeNode
}

func newFakeServer() *fakeServer {
	f := &fakeServer{
		index:   3, // etcd 3.4 starts at 3 after publishing its member
		keys:    map[string]*fakeNode{"/": {key: "/", dir: true}},
		changed: make(chan struct{}),
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *fakeServer) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	f.mu.Unlock()
	w.Header().Set("X-Etcd-Cluster-Id", "cafe")
	switch {
	case r.URL.Path == "/v2/members":
		fmt.Fprintf(w, `{"members":[{"id":"8e9e05c52164694d","name":"fake","peerURLs":["http://127.0.0.1:2380"],"clientURLs":[%q]}]}`, f.URL)
	case r.URL.Path == "/v2/members/leader":
		fmt.Fprintf(w, `{"id":"8e9e05c52164694d","name":"fake","peerURLs":["http://127.0.0.1:2380"],"clientURLs":[%q]}`, f.URL)
	case r.URL.Path == "/health":
		fmt.Fprint(w, `{"health":"true"}`)
	case strings.HasPrefix(r.URL.Path, "/v2/keys"):
		f.serveKeys(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeServer) serveKeys(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := path.Clean("/" + strings.TrimPrefix(r.URL.Path, "/v2/keys"))
	if r.Method == http.MethodGet && r.Form.Get("wait") == "true" {
		f.serveWait(w, r, key)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ev *fakeEvent
	var code int
	switch r.Method {
	case http.MethodGet:
		n, ok := f.keys[key]
		if !ok {
			f.writeError(w, 100, "Key not found", key)
			return
		}
		f.writeHeaders(w, http.StatusOK)
		out := map[string]any{"action": "get", "node": f.render(n, r.Form.Get("recursive") == "true", true)}
		json.NewEncoder(w).Encode(out)
		return
	case http.MethodPut:
		prev, exists := f.keys[key]
		switch r.Form.Get("prevExist") {
		case "false":
			if exists {
				f.writeError(w, 105, "Key already exists", key)
				return
			}
		case "true":
			if !exists {
				f.writeError(w, 100, "Key not found", key)
				return
			}
		}
		if exists && prev.dir && r.Form.Get("dir") != "true" {
			f.writeError(w, 102, "Not a file", key)
			return
		}
		action := "set"
		switch {
		case r.Form.Get("prevExist") == "false":
			action = "create"
		case r.Form.Get("prevExist") == "true":
			action = "update"
		}
		ev = f.put(key, r.Form.Get("value"), r.Form.Get("dir") == "true", action)
		code = http.StatusOK
		if action == "create" {
			code = http.StatusCreated
		}
	case http.MethodPost:
		ev = f.put(fmt.Sprintf("%s/%020d", key, f.index+1), r.Form.Get("value"), false, "create")
		code = http.StatusCreated
	case http.MethodDelete:
		n, ok := f.keys[key]
		if !ok {
			f.writeError(w, 100, "Key not found", key)
			return
		}
		if n.dir && r.Form.Get("recursive") != "true" && r.Form.Get("dir") != "true" {
			f.writeError(w, 102, "Not a file", key)
			return
		}
		f.index++
		for k := range f.keys {
			if k == key || strings.HasPrefix(k, key+"/") {
				delete(f.keys, k)
			}
		}
		prev := *n
		ev = &fakeEvent{action: "delete", node: fakeNode{key: key, dir: n.dir, created: n.created, modified: f.index}, prev: &prev}
		f.events = append(f.events, *ev)
		close(f.changed)
		f.changed = make(chan struct{})
		code = http.StatusOK
	}
	f.writeHeaders(w, code)
	json.NewEncoder(w).Encode(f.renderEvent(ev))
}

// put writes a key or directory, creating parents; f.mu is held.
func (f *fakeServer) put(key, value string, dir bool, action string) *fakeEvent {
	f.index++
	for p := path.Dir(key); p != "/"; p = path.Dir(p) {
		if _, ok := f.keys[p]; !ok {
			f.keys[p] = &fakeNode{key: p, dir: true, created: f.index, modified: f.index}
		}
	}
	var prev *fakeNode
	if old, ok := f.keys[key]; ok {
		c := *old
		prev = &c
	}
	n := &fakeNode{key: key, dir: dir, value: value, created: f.index, modified: f.index}
	if prev != nil && action == "update" {
		n.created = prev.created
	}
	f.keys[key] = n
	ev := &fakeEvent{action: action, node: *n, prev: prev}
	f.events = append(f.events, *ev)
	close(f.changed)
	f.changed = make(chan struct{})
	return ev
}

// serveWait answers a long poll (and, with stream=true, keeps answering).
func (f *fakeServer) serveWait(w http.ResponseWriter, r *http.Request, key string) {
	recursive := r.Form.Get("recursive") == "true"
	stream := r.Form.Get("stream") == "true"
	f.mu.Lock()
	next, _ := strconv.ParseUint(r.Form.Get("waitIndex"), 10, 64)
	if next == 0 {
		next = f.index + 1
	}
	f.writeHeaders(w, http.StatusOK)
	f.mu.Unlock()
	w.(http.Flusher).Flush()
	for {
		f.mu.Lock()
		var found *fakeEvent
		for i := range f.events {
			e := &f.events[i]
			if e.node.modified < next {
				continue
			}
			if e.node.key == key || (recursive && strings.HasPrefix(e.node.key, strings.TrimSuffix(key, "/")+"/")) {
				found = e
				break
			}
		}
		changed := f.changed
		var out map[string]any
		if found != nil {
			out = f.renderEvent(found)
			next = found.node.modified + 1
		}
		f.mu.Unlock()
		if found != nil {
			json.NewEncoder(w).Encode(out)
			w.(http.Flusher).Flush()
			if !stream {
				return
			}
			continue
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeServer) writeHeaders(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(f.index, 10))
	w.Header().Set("X-Raft-Index", strconv.FormatUint(f.index*10, 10))
	w.Header().Set("X-Raft-Term", "2")
	w.WriteHeader(code)
}

func (f *fakeServer) writeError(w http.ResponseWriter, code int, msg, cause string) {
	status := http.StatusBadRequest
	switch code {
	case 100:
		status = http.StatusNotFound
	case 102:
		status = http.StatusForbidden
	case 105:
		status = http.StatusPreconditionFailed
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(f.index, 10))
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errorCode": code, "message": msg, "cause": cause, "index": f.index})
}

func (f *fakeServer) renderEvent(e *fakeEvent) map[string]any {
	out := map[string]any{"action": e.action, "node": f.render(&e.node, false, false)}
	if e.prev != nil {
		out["prevNode"] = f.render(e.prev, false, false)
	}
	return out
}

// render shapes a node as etcd does; children only when listing.
func (f *fakeServer) render(n *fakeNode, recursive, list bool) map[string]any {
	out := map[string]any{}
	if n.key != "/" {
		out["key"] = n.key
		out["createdIndex"] = n.created
		out["modifiedIndex"] = n.modified
	}
	if n.dir {
		out["dir"] = true
	} else {
		out["value"] = n.value
	}
	if n.dir && list {
		var kids []string
		prefix := strings.TrimSuffix(n.key, "/") + "/"
		for k := range f.keys {
			if k != "/" && strings.HasPrefix(k, prefix) && !strings.Contains(k[len(prefix):], "/") {
				kids = append(kids, k)
			}
		}
		sort.Strings(kids)
		var nodes []any
		for _, k := range kids {
			nodes = append(nodes, f.render(f.keys[k], recursive, recursive))
		}
		if len(nodes) > 0 {
			out["nodes"] = nodes
		}
	}
	return out
}
