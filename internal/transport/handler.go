package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Paths served by Handler, under PathPrefix.
const (
	PathPrefix   = "/raft/"
	StreamPath   = "/raft/stream"
	SnapshotPath = "/raft/snapshot"
)

// Request headers naming the sender, in canonical form.
const (
	headerClusterID = "X-Arbor-Cluster-Id" // hex
	headerFrom      = "X-Arbor-From"       // hex member ID of the sender
	headerTo        = "X-Arbor-To"         // hex member ID the sender means to reach
)

// rejectLogInterval spaces out log lines about a sender that keeps being
// refused (it retries every BackoffMax).
const rejectLogInterval = time.Minute

func (t *Transport) setHeaders(h http.Header, to uint64) {
	h[headerClusterID] = []string{strconv.FormatUint(t.cfg.ClusterID, 16)}
	h[headerFrom] = []string{strconv.FormatUint(t.cfg.MemberID, 16)}
	h[headerTo] = []string{strconv.FormatUint(to, 16)}
	h["Content-Type"] = []string{"application/octet-stream"}
}

// Handler serves StreamPath and SnapshotPath; mount it at PathPrefix on
// the peer listener. After Stop it answers 503.
func (t *Transport) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+StreamPath, t.tracked(t.serveStream))
	mux.HandleFunc("POST "+SnapshotPath, t.tracked(t.serveSnapshot))
	return mux
}

// tracked lets Stop wait for h, so no callback runs after Stop returns.
func (t *Transport) tracked(h func(http.ResponseWriter, *http.Request, uint64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t.mu.RLock()
		if t.stopped {
			t.mu.RUnlock()
			http.Error(w, ErrStopped.Error(), http.StatusServiceUnavailable)
			return
		}
		t.handlers.Add(1)
		t.mu.RUnlock()
		defer t.handlers.Done()
		rc := http.NewResponseController(w)
		// Full duplex lets a refusal go out at once: otherwise the server
		// first reads the body, which a stream never ends. (HTTP/2 is full
		// duplex already.)
		if err := rc.EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// After the handler the server reads what is left of the body,
		// hoping to reuse the connection, and a stream's body never ends:
		// unless the body was read to its end, give up on the connection.
		body := &eofBody{ReadCloser: r.Body}
		r.Body = body
		defer func() {
			if !body.eof {
				_ = rc.SetReadDeadline(time.Now())
			}
		}()
		from, ok := t.checkSender(w, r)
		if !ok {
			return
		}
		w.Header()[headerClusterID] = []string{strconv.FormatUint(t.cfg.ClusterID, 16)}
		h(w, r, from)
	}
}

// checkSender refuses a request from another cluster, or meant for another
// member, with 412 Precondition Failed.
func (t *Transport) checkSender(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	from, err := strconv.ParseUint(r.Header.Get(headerFrom), 16, 64)
	if err != nil || from == 0 {
		http.Error(w, "transport: missing or bad "+headerFrom, http.StatusBadRequest)
		return 0, false
	}
	cluster, err := strconv.ParseUint(r.Header.Get(headerClusterID), 16, 64)
	if err != nil || cluster != t.cfg.ClusterID {
		reason := fmt.Sprintf("transport: cluster ID mismatch: member %x of cluster %q is not in this cluster %x",
			from, r.Header.Get(headerClusterID), t.cfg.ClusterID)
		t.refuse(w, r, from, "cluster", reason)
		return 0, false
	}
	if t.cfg.Removed != nil && t.cfg.Removed(from) {
		reason := fmt.Sprintf("transport: member %x was removed from cluster %x", from, t.cfg.ClusterID)
		t.refuseWith(w, r, from, "removed", reason, http.StatusGone)
		return 0, false
	}
	to, err := strconv.ParseUint(r.Header.Get(headerTo), 16, 64)
	if err != nil || to != t.cfg.MemberID {
		reason := fmt.Sprintf("transport: member ID mismatch: request for member %q reached member %x",
			r.Header.Get(headerTo), t.cfg.MemberID)
		t.refuse(w, r, from, "member", reason)
		return 0, false
	}
	return from, true
}

func (t *Transport) refuse(w http.ResponseWriter, r *http.Request, from uint64, kind, reason string) {
	t.refuseWith(w, r, from, kind, reason, http.StatusPreconditionFailed)
}

func (t *Transport) refuseWith(w http.ResponseWriter, r *http.Request, from uint64, kind, reason string, status int) {
	if t.inbound.shouldLog(fmt.Sprintf("%s/%x", kind, from)) {
		t.log.Error("transport: refused a peer request", "from", fmt.Sprintf("%x", from), "remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason)
	}
	w.Header().Set("Connection", "close")
	http.Error(w, reason, status)
}

// serveStream reads one peer's stream: message frames go to Raft.Process
// in order, pings are answered with pongs on the response (tracked has
// enabled full duplex for that).
func (t *Transport) serveStream(w http.ResponseWriter, r *http.Request, from uint64) {
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()
	defer t.inbound.open(from, cancel)()
	body := newDeadlineReader(ctx, r.Body, rc, t.cfg.IdleTimeout)
	defer body.finish()

	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	t.log.Debug("transport: stream from peer opened", "from", fmt.Sprintf("%x", from), "remote", r.RemoteAddr)
	err := t.readStream(ctx, bufio.NewReaderSize(body, 64<<10), w, rc)
	if ctx.Err() == nil && !errors.Is(err, io.EOF) {
		t.log.Info("transport: stream from peer ended", "from", fmt.Sprintf("%x", from), "err", err)
	}
}

func (t *Transport) readStream(ctx context.Context, br *bufio.Reader, w io.Writer, rc *http.ResponseController) error {
	var buf, out []byte
	for {
		kind, payload, nb, err := readFrame(br, buf, t.cfg.MaxFrameSize)
		buf = nb
		if err != nil {
			return err
		}
		switch kind {
		case frameMessage:
			var m raftpb.Message
			if err := m.Unmarshal(payload); err != nil {
				return fmt.Errorf("transport: decode message: %w", err)
			}
			if err := t.cfg.Raft.Process(ctx, m); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				t.log.Debug("transport: raft refused a message", "type", m.Type, "from", fmt.Sprintf("%x", m.From), "err", err)
			}
		case framePing:
			token, err := decodeToken(payload)
			if err != nil {
				return err
			}
			out = appendToken(out[:0], framePong, token)
			_ = rc.SetWriteDeadline(time.Now().Add(t.cfg.IdleTimeout))
			if _, err := w.Write(out); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("transport: unknown frame kind %d", kind)
		}
	}
}

// serveSnapshot receives a MsgSnap and its body, has Snapshots store the
// body, then steps the message; 204 tells the sender it all worked.
func (t *Transport) serveSnapshot(w http.ResponseWriter, r *http.Request, from uint64) {
	if t.cfg.Snapshots == nil {
		http.Error(w, "transport: this member does not accept snapshots", http.StatusNotImplemented)
		return
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()
	body := newDeadlineReader(ctx, r.Body, rc, t.cfg.IdleTimeout)
	defer body.finish()
	br := bufio.NewReaderSize(body, 64<<10)

	start := time.Now()
	m, err := readSnapshotMessage(br, t.cfg.MaxFrameSize)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	index := m.Snapshot.Metadata.Index
	log := t.log.With("from", fmt.Sprintf("%x", from), "index", index)
	counted := &countingReader{r: br}
	if err := t.cfg.Snapshots.SaveSnapshot(ctx, m, counted); err != nil {
		log.Warn("transport: receiving snapshot failed", "bytes", counted.n, "err", err)
		http.Error(w, "transport: save snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The body must have ended cleanly: a sender that died exactly at the
	// end of what the store needed would otherwise go unnoticed.
	if extra, err := counted.Read(make([]byte, 1)); extra != 0 || err != io.EOF {
		log.Error("transport: snapshot body not read to its end", "bytes", counted.n, "err", err)
		http.Error(w, "transport: snapshot body not consumed", http.StatusInternalServerError)
		return
	}
	if err := t.cfg.Raft.Process(ctx, m); err != nil {
		log.Warn("transport: raft refused a received snapshot", "err", err)
		http.Error(w, "transport: step snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	log.Info("transport: snapshot received", "bytes", counted.n, "took", time.Since(start))
	w.WriteHeader(http.StatusNoContent)
}

func readSnapshotMessage(br *bufio.Reader, maxSize int) (raftpb.Message, error) {
	var m raftpb.Message
	kind, payload, _, err := readFrame(br, nil, maxSize)
	if err != nil {
		return m, fmt.Errorf("transport: snapshot message: %w", err)
	}
	if kind != frameMessage {
		return m, fmt.Errorf("transport: snapshot request starts with frame kind %d", kind)
	}
	if err := m.Unmarshal(payload); err != nil {
		return m, fmt.Errorf("transport: decode snapshot message: %w", err)
	}
	if m.Type != raftpb.MsgSnap || m.Snapshot == nil {
		return m, fmt.Errorf("transport: snapshot request carries %s", m.Type)
	}
	return m, nil
}

// inbound tracks the streams peers opened to this member.
type inbound struct {
	mu sync.Mutex
	// streams holds the newest stream from each sender. A new one replaces
	// (and ends) the old, which a restarted or reconnecting sender left
	// behind. Guarded by mu.
	streams map[uint64]*inboundStream
	warned  map[string]time.Time // when a refusal was last logged; guarded by mu
}

type inboundStream struct{ cancel context.CancelFunc }

// open registers a stream from a sender and returns its unregister func.
func (in *inbound) open(from uint64, cancel context.CancelFunc) func() {
	s := &inboundStream{cancel: cancel}
	in.mu.Lock()
	old := in.streams[from]
	in.streams[from] = s
	in.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	return func() {
		in.mu.Lock()
		if in.streams[from] == s {
			delete(in.streams, from)
		}
		in.mu.Unlock()
	}
}

// end ends the stream from a sender, if one is open.
func (in *inbound) end(from uint64) {
	in.mu.Lock()
	s := in.streams[from]
	delete(in.streams, from)
	in.mu.Unlock()
	if s != nil {
		s.cancel()
	}
}

func (in *inbound) shouldLog(key string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.warned == nil {
		in.warned = map[string]time.Time{}
	}
	if last, ok := in.warned[key]; ok && time.Since(last) < rejectLogInterval {
		return false
	}
	in.warned[key] = time.Now()
	return true
}

// deadlineReader reads a request body with a fresh read deadline for every
// read, so a peer that goes silent is noticed, and cuts a blocked read
// short when ctx ends.
type deadlineReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	ctx  context.Context
	stop func() bool

	mu       sync.Mutex // orders deadline changes between Read and interrupt
	finished bool       // the handler is returning; guarded by mu
}

func newDeadlineReader(ctx context.Context, r io.Reader, rc *http.ResponseController, idle time.Duration) *deadlineReader {
	d := &deadlineReader{r: r, rc: rc, idle: idle, ctx: ctx}
	d.stop = context.AfterFunc(ctx, d.interrupt)
	return d
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.mu.Lock()
	if err := d.ctx.Err(); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	_ = d.rc.SetReadDeadline(time.Now().Add(d.idle))
	d.mu.Unlock()
	return d.r.Read(p)
}

func (d *deadlineReader) interrupt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.finished {
		_ = d.rc.SetReadDeadline(time.Now())
	}
}

// finish must run before the handler returns: the response controller is
// not valid afterwards.
func (d *deadlineReader) finish() {
	d.stop()
	d.mu.Lock()
	d.finished = true
	d.mu.Unlock()
}

// eofBody notes whether a request body was read to its end.
type eofBody struct {
	io.ReadCloser
	eof bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
