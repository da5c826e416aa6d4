package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// DefaultMaxRequestBytes is the largest form body accepted by default: 10
// MiB, the limit net/http's form parser gives etcd.
const DefaultMaxRequestBytes = 10 << 20

// Options configure New. The zero value gives etcd 3.4's behaviour.
type Options struct {
	// MaxRequestBytes bounds a request's form body (default
	// DefaultMaxRequestBytes). A larger body fails with error 210 before
	// anything is written.
	MaxRequestBytes int64
	// CORS lists the origins allowed to read responses from a browser.
	// nil means ["*"], which is what etcd 3.4 answers by default; an empty
	// non-nil slice sends no CORS headers at all. "*" allows every origin;
	// other entries are compared with the request's Origin header exactly.
	CORS []string
	// Logger receives server-side failures and recovered panics (default
	// slog.Default()).
	Logger *slog.Logger
	// Clock turns a TTL into an absolute expiration (default time.Now).
	Clock Clock
	// Gatherer, if non-nil, is served at /metrics.
	Gatherer prometheus.Gatherer
	// Version is Arbor's version, shown in /version.
	Version string
	// StreamFlushInterval is the shortest time between two writes to one
	// stream=true watcher: events arriving sooner wait, at most that long,
	// and go out together in one write. An idle stream's next event goes
	// out at once. Zero writes every event as soon as it is ready.
	StreamFlushInterval time.Duration
}

// handler serves the client port. It holds no per-request state.
type handler struct {
	b        Backend
	maxBytes int64
	cors     corsPolicy
	log      *slog.Logger
	now      Clock
	metrics  http.Handler // nil without a Gatherer
	version  []byte       // /version body, fixed at construction

	streamFlushInterval time.Duration // see Options.StreamFlushInterval

	clusterID atomic.Pointer[clusterIDValue] // the last cluster ID header
}

// clusterIDValue is a cluster ID and its header value, shared by every
// answer while the ID stays the same (header values are only read).
type clusterIDValue struct {
	id     uint64
	header []string
}

// clusterIDHeader returns the X-Etcd-Cluster-Id value for id.
func (h *handler) clusterIDHeader(id uint64) []string {
	if c := h.clusterID.Load(); c != nil && c.id == id {
		return c.header
	}
	c := &clusterIDValue{id, []string{strconv.FormatUint(id, 16)}}
	h.clusterID.Store(c)
	return c.header
}

// New returns the client-port handler serving the etcd v2 API over b.
func New(b Backend, opts Options) http.Handler {
	h := &handler{
		b:        b,
		maxBytes: opts.MaxRequestBytes,
		cors:     newCORSPolicy(opts.CORS),
		log:      opts.Logger,
		now:      opts.Clock,

		streamFlushInterval: opts.StreamFlushInterval,
	}
	if h.maxBytes <= 0 {
		h.maxBytes = DefaultMaxRequestBytes
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if opts.Gatherer != nil {
		h.metrics = promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})
	}
	h.version = versionBody(opts.Version)
	return h
}

// Versions reported by /version. Clients read them to decide which API to
// speak: those that know etcd 3 switch to the v3 (gRPC) API when etcdserver
// is 3.x or later, which Arbor does not serve. 2.3.8 was the last etcd 2
// release, whose v2 API is the one Arbor implements, so every v2 client
// accepts it and none tries v3. Arbor's own version goes in its own field.
const (
	etcdServerVersion  = "2.3.8"
	etcdClusterVersion = "2.3.0"
)

func versionBody(arbor string) []byte {
	// Marshalling three strings cannot fail.
	b, _ := json.Marshal(struct {
		Server  string `json:"etcdserver"`
		Cluster string `json:"etcdcluster"`
		Arbor   string `json:"arbor"`
	}{etcdServerVersion, etcdClusterVersion, arbor})
	return b
}

// statusWriter records what a handler answered, for the metrics and for the
// panic handler (which must not write a second status line).
type statusWriter struct {
	http.ResponseWriter
	status int
	watch  bool // a watch: excluded from the latency histogram
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response; not a bug
			}
			logPanic(h.log, r, v, debug.Stack())
			if w.status == 0 {
				h.writeError(w, r, apierr.New(apierr.RaftInternal, causeInternal, 0))
			}
		}
		status := w.status
		if status == 0 {
			status = http.StatusOK
		}
		m := methodLabel(r.Method)
		requestsTotal.WithLabelValues(m, strconv.Itoa(status)).Inc()
		if !w.watch {
			requestDuration.WithLabelValues(m).Observe(time.Since(start).Seconds())
		}
	}()

	h.cors.addHeaders(w.Header(), r)
	if r.Method == http.MethodOptions {
		// Preflight (or a plain OPTIONS): etcd answers 200 with no body on
		// every path.
		w.WriteHeader(http.StatusOK)
		return
	}
	// One Status per request (two for a write, whose Raft index is read
	// after it applied): the Backend may have to ask the Raft goroutine.
	h.route(w, r, h.b.Status())
}

// route dispatches on the path. Unlike etcd (whose mux answers 301 to the
// cleaned URL), an unclean key path is served as if it were clean: a
// redirect would turn a PUT into a GET in many clients and lose the write.
// Other routes match exactly, as etcd's do.
func (h *handler) route(w *statusWriter, r *http.Request, st Status) {
	// etcd sets the cluster ID header on the keys and members routes only
	// (on the keys route, not on its 405 answers).
	clusterID := func() { w.Header()["X-Etcd-Cluster-Id"] = h.clusterIDHeader(st.ClusterID) }
	p := cleanPath(r.URL.Path)
	if p == keysPrefix || strings.HasPrefix(p, keysPrefix+"/") {
		if !allowMethod(w, r, http.MethodHead, http.MethodGet, http.MethodPut,
			http.MethodPost, http.MethodDelete) {
			return
		}
		clusterID()
		h.serveKeys(w, r, st)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/v2/members/"); ok && id != "" {
		clusterID()
		if !allowMethod(w, r, http.MethodGet, http.MethodDelete, http.MethodPut) {
			return
		}
		if r.Method == http.MethodGet {
			h.serveMember(w, r, id, st)
		} else {
			h.serveMemberChange(w, r, id)
		}
		return
	}
	switch r.URL.Path {
	case "/version":
		if allowMethod(w, r, http.MethodGet) {
			writeRaw(w, r, "application/json", h.version)
		}
	case "/health":
		if allowMethod(w, r, http.MethodGet) {
			h.serveHealth(w, r)
		}
	case "/v2/stats/self":
		if allowMethod(w, r, http.MethodGet) {
			h.writeJSON(w, r, h.b.SelfStats(), false)
		}
	case "/v2/stats/store":
		if allowMethod(w, r, http.MethodGet) {
			h.writeJSON(w, r, h.b.StoreStats(), false)
		}
	case "/v2/stats/leader":
		if allowMethod(w, r, http.MethodGet) {
			h.serveLeaderStats(w, r)
		}
	case "/v2/machines":
		if allowMethod(w, r, http.MethodGet, http.MethodHead) {
			h.serveMachines(w, r)
		}
	case "/v2/leader":
		if allowMethod(w, r, http.MethodGet, http.MethodHead) {
			h.serveLeader(w, r, st)
		}
	case "/v2/members", "/v2/members/":
		clusterID()
		if !allowMethod(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodPost {
			h.serveMemberAdd(w, r)
		} else {
			h.serveMembers(w, r)
		}
	case "/metrics":
		if h.metrics == nil {
			http.NotFound(w, r)
		} else if allowMethod(w, r, http.MethodGet, http.MethodHead) {
			h.metrics.ServeHTTP(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

// allowMethod answers 405 as etcd does (an Allow header, a plain-text body)
// unless r's method is one of ms.
func allowMethod(w http.ResponseWriter, r *http.Request, ms ...string) bool {
	for _, m := range ms {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(ms, ","))
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

// writeRaw answers 200 with body as is.
func writeRaw(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	writeBody(w, r, http.StatusOK, body)
}

// writeJSON answers 200 with v as JSON. etcd ends some bodies with a
// newline (those it writes with an Encoder) and not others; newline says
// which, so that bodies match byte for byte.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, v any, newline bool) {
	b, err := json.Marshal(v)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("httpapi: encode %s: %w", r.URL.Path, err))
		return
	}
	if newline {
		b = append(b, '\n')
	}
	writeRaw(w, r, "application/json", b)
}

// corsPolicy decides the CORS headers of a response.
type corsPolicy struct {
	any     bool // "*" is allowed
	origins map[string]bool
}

func newCORSPolicy(list []string) corsPolicy {
	if list == nil {
		list = []string{"*"}
	}
	p := corsPolicy{origins: make(map[string]bool, len(list))}
	for _, o := range list {
		if o == "*" {
			p.any = true
		}
		p.origins[o] = true
	}
	return p
}

// addHeaders sets the headers etcd 3.4 sends: with "*" on every response,
// otherwise only when the request's Origin is listed, echoing it back.
func (p corsPolicy) addHeaders(hdr http.Header, r *http.Request) {
	var origin string
	switch {
	case p.any:
		origin = "*"
	case len(p.origins) > 0:
		// The answer depends on Origin, so caches must key on it.
		hdr.Add("Vary", "Origin")
		if o := r.Header.Get("Origin"); o != "" && p.origins[o] {
			origin = o
		}
	}
	if origin == "" {
		return
	}
	hdr["Access-Control-Allow-Methods"] = corsMethods
	if origin == "*" {
		hdr["Access-Control-Allow-Origin"] = corsOriginAnyone
	} else {
		hdr["Access-Control-Allow-Origin"] = []string{origin}
	}
	hdr["Access-Control-Allow-Headers"] = corsHeaders
}
