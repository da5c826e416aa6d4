package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

// serveKeys answers /v2/keys: a read, a write or a watch.
// st is the member's status when the request arrived.
func (h *handler) serveKeys(w *statusWriter, r *http.Request, st Status) {
	// Bounding the body before the form parser sees it: a larger body
	// fails the parse (error 210) and net/http closes the connection
	// rather than read the rest, so nothing is written and nothing hangs.
	if r.Body != nil {
		// The connection's own writer, not the wrapper: MaxBytesReader
		// looks for net/http's private hook that closes the connection.
		r.Body = http.MaxBytesReader(w.ResponseWriter, r.Body, h.maxBytes)
	}
	kr, err := parseKeyRequest(r, h.now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	switch {
	case kr.write != nil && isReserved(kr.write.Path):
		h.writeError(w, r, apierr.New(apierr.KeyIsPreserved, kr.write.Path, st.StoreIndex))
	case kr.write != nil:
		ev, err := h.b.Write(r.Context(), kr.write)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeEvent(w, r, ev, kr.noValueOnSuccess, h.b.Status())
	case kr.wait:
		// A watch even with quorum=true, where etcd 3.4 drops the wait
		// and answers a plain read.
		w.watch = true
		h.serveWatch(w, r, kr, st)
	default:
		ev, err := h.b.Get(r.Context(), kr.key, kr.recursive, kr.sorted, kr.quorum)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeEvent(w, r, ev, kr.noValueOnSuccess, st)
	}
}

// reservedDir holds the members' keys, which only membership changes write
// (etcd 0.4 kept its machines there too). registryDir below it is the
// discovery service's, where members register with plain v2 writes.
const (
	reservedDir = "/_etcd"
	registryDir = "/_etcd/registry"
)

// isReserved reports whether a client may not write the key (or directory)
// at path: /_etcd and everything under it but the discovery registry.
// Writing a parent (say a recursive delete of "/") is the store's business:
// "/" itself is read-only there.
func isReserved(path string) bool {
	if path == registryDir || strings.HasPrefix(path, registryDir+"/") {
		return false
	}
	return path == reservedDir || strings.HasPrefix(path, reservedDir+"/")
}

// setRaftHeaders sets the headers every successful keys response carries.
// The keys are written in canonical form directly, with one allocation for
// the three values: on the write path, Header.Set's canonicalisation and a
// slice per header were a measurable share of each request.
func setRaftHeaders(hdr http.Header, etcdIndex uint64, st Status) {
	vals := [3]string{strconv.FormatUint(etcdIndex, 10), strconv.FormatUint(st.RaftIndex, 10), strconv.FormatUint(st.RaftTerm, 10)}
	s := vals[:]
	hdr["Content-Type"] = contentTypeJSON
	hdr["X-Etcd-Index"] = s[0:1:1]
	hdr["X-Raft-Index"] = s[1:2:2]
	hdr["X-Raft-Term"] = s[2:3:3]
}

// Shared, never modified header values (net/http only reads them; the
// full capacity makes any append copy).
var (
	contentTypeJSON  = []string{"application/json"}
	corsMethods      = []string{"POST, GET, OPTIONS, PUT, DELETE"}
	corsHeaders      = []string{"accept, content-type, authorization"}
	corsOriginAnyone = []string{"*"}
)

// writeEvent answers with the result of a read or write.
func (h *handler) writeEvent(w http.ResponseWriter, r *http.Request, ev *store.Event, noValueOnSuccess bool, st Status) {
	if ev == nil {
		// A Backend bug, but the client still deserves an answer.
		h.writeError(w, r, errors.New("httpapi: backend returned no event"))
		return
	}
	setRaftHeaders(w.Header(), ev.EtcdIndex, st)
	status := http.StatusOK
	if created(ev) {
		status = http.StatusCreated
	}
	if noValueOnSuccess && hidesValue(ev.Action) {
		writeBody(w, r, status, actionOnly(ev.Action))
		return
	}
	if ev.Streamed() {
		// A large listing: sent as it is encoded, without a length (so
		// chunked), rather than held whole. HEAD still gets the length
		// GET would send, counted by encoding it for nothing.
		if r.Method == http.MethodHead {
			var n byteCounter
			_ = ev.WriteJSON(&n)
			w.Header().Set("Content-Length", strconv.FormatInt(int64(n), 10))
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(status)
		// A failed write means the client is gone; encoding stops.
		_ = ev.WriteJSON(w)
		return
	}
	// Not ev.Encode(): that would keep the encoding in the history's copy
	// of a write's event for watchers that may never come. The buffer is
	// reused: a ResponseWriter copies what it is given.
	buf := answerBuffers.Get().(*[]byte)
	body := ev.AppendJSON((*buf)[:0])
	writeBody(w, r, status, body)
	if cap(body) <= maxPooledAnswer {
		*buf = body[:0]
		answerBuffers.Put(buf)
	}
}

// byteCounter counts what is written to it.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// answerBuffers hold encoded answers between requests: growing a fresh
// buffer for each was a fifth of the bytes a write allocated.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledAnswer bounds the buffers kept: a large directory listing's is
// left to the collector.
const maxPooledAnswer = 64 << 10

// created says whether etcd answers 201: a node came into being.
func created(ev *store.Event) bool {
	return ev.Action == store.ActionCreate || ev.Action == store.ActionSet && ev.PrevNode == nil
}

// hidesValue says whether noValueOnSuccess applies to action. etcd drops
// both node and prevNode, and only for these actions; a delete still shows
// what was deleted.
func hidesValue(action string) bool {
	switch action {
	case store.ActionSet, store.ActionCreate, store.ActionUpdate, store.ActionCompareAndSwap:
		return true
	}
	return false
}

func actionOnly(action string) []byte {
	// Marshalling one string cannot fail.
	b, _ := json.Marshal(struct {
		Action string `json:"action"`
	}{action})
	return append(b, '\n')
}
