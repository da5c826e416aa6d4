package httplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Buffer sizes per connection. A request the read buffer cannot hold whole
// (headers and body) goes to net/http.
const (
	readBufferSize  = 8 << 10
	writeBufferSize = 4 << 10
)

// Server serves plain-HTTP listeners: the requests described in the package
// doc on its own loop, every other connection through HTTP.
type Server struct {
	// HTTP gives the handler, the timeouts (ReadTimeout, ReadHeaderTimeout,
	// WriteTimeout, IdleTimeout), BaseContext and ErrorLog, and serves the
	// connections handed to it. It must not be started by the caller.
	HTTP *http.Server
	// Prefix is the path prefix of requests the lane may serve itself
	// ("/v2/keys": the path must equal it or go on with '/' or '?').
	Prefix string
	// NeedsHTTP names form fields (query or body) that make a request
	// net/http's, such as "wait": a watch streams its answer.
	NeedsHTTP []string

	startOnce sync.Once
	handoff   *handoffListener

	closing atomic.Bool
	mu      sync.Mutex // guards conns and listeners
	conns   map[*conn]struct{}
	lns     []net.Listener
}

// passingAcceptError reports whether an Accept error is a condition that
// passes (no file descriptors or buffers left, a connection reset before
// it was taken, a timeout, EAGAIN among them), which net/http waits out
// too, rather than a closed or broken listener. Timeout alone misses the
// first of them: EMFILE is temporary but not a timeout.
func passingAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// start creates the hand-off listener and runs HTTP on it, once.
func (s *Server) start(addr net.Addr) {
	s.startOnce.Do(func() {
		s.handoff = newHandoffListener(addr)
		go func() { _ = s.HTTP.Serve(s.handoff) }()
	})
}

// Serve accepts connections on ln until Shutdown, like http.Server.Serve,
// and returns http.ErrServerClosed then. It may be called for several
// listeners.
func (s *Server) Serve(ln net.Listener) error {
	s.start(ln.Addr())
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()

	base := context.Background()
	if s.HTTP.BaseContext != nil {
		base = s.HTTP.BaseContext(ln)
	}
	var backoff time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if passingAcceptError(err) {
				// Out of file descriptors and the like: wait, as
				// net/http does, rather than spin or give up (giving
				// up would close the client port for good).
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				if s.HTTP.ErrorLog != nil {
					s.HTTP.ErrorLog.Printf("httplane: accept error: %v; retrying in %v", err, backoff)
				}
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := &conn{srv: s, rwc: rwc, ctx: base, remote: rwc.RemoteAddr().String()}
		if !s.track(c) {
			rwc.Close()
			return http.ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops the listeners, closes idle connections, lets requests in
// progress finish (each connection closes after its answer), then shuts
// HTTP down; when ctx ends first, it closes what is left and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for _, ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			c.closeIfIdle()
		}
		left := len(s.conns)
		s.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				c.rwc.Close()
			}
			s.mu.Unlock()
			_ = s.HTTP.Close()
			return ctx.Err()
		}
	}
	if s.handoff == nil { // never served
		return nil
	}
	return s.HTTP.Shutdown(ctx)
}

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading or answering a request
	stateIdle                // waiting for the next request
	stateClosed              // closed by Shutdown while idle
)

// conn is one connection the lane serves, until it closes or is handed off.
type conn struct {
	srv    *Server
	rwc    net.Conn
	ctx    context.Context
	remote string
	state  atomic.Int32
	br     *bufio.Reader
	bw     *bufio.Writer
	resp   responseWriter
	body   []byte        // the current request's body, copied out of br
	bodyR  bodyReader    // reads body; the request's Body when it has one
	rd, wd deadline      // the connection's read and write deadlines
	header http.Header   // the current request's header, reused
	base   *http.Request // empty request with ctx, copied for each request
}

// bodyReader is a request body held in memory.
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// closeIfIdle closes the connection if it is waiting for a request.
func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		c.rwc.Close()
	}
}

func (c *conn) serve() {
	defer c.srv.untrack(c)
	c.br = bufio.NewReaderSize(c.rwc, readBufferSize)
	c.bw = bufio.NewWriterSize(c.rwc, writeBufferSize)
	for {
		next, err := c.serveOne()
		switch {
		case next == handedOff:
			return
		case next == closeConn || err != nil:
			_ = c.bw.Flush()
			c.rwc.Close()
			return
		}
	}
}

// outcome says what happens to the connection after a request.
type outcome int

const (
	keepAlive outcome = iota
	closeConn
	handedOff
)

// serveOne waits for a request and serves it or hands the connection off.
func (c *conn) serveOne() (outcome, error) {
	hs := c.srv.HTTP
	// Idle: wait for the first byte of the next request.
	c.state.Store(stateIdle)
	if c.srv.closing.Load() {
		c.closeIfIdle()
		return closeConn, nil
	}
	idle := hs.IdleTimeout
	if idle == 0 {
		idle = hs.ReadTimeout
	}
	c.rd.update(c.rwc.SetReadDeadline, idle)
	if c.br.Buffered() == 0 {
		if err := c.bw.Flush(); err != nil {
			return closeConn, err
		}
	}
	if _, err := c.br.Peek(1); err != nil {
		return closeConn, err
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return closeConn, nil // Shutdown closed it
	}
	start := time.Now()
	if headerEnd(c.peeked(c.br.Buffered())) == 0 {
		// More to read: the header has its own time limit. (A request
		// that came whole needs no read deadline but the idle one.)
		hdrTimeout := hs.ReadHeaderTimeout
		if hdrTimeout == 0 {
			hdrTimeout = hs.ReadTimeout
		}
		c.rd.update(c.rwc.SetReadDeadline, hdrTimeout)
	}

	hdrLen, err := c.peekHeader()
	if err != nil {
		return closeConn, err
	}
	if hdrLen == 0 {
		return c.handOff()
	}
	req, ok := parseHead(c.peeked(hdrLen), c.srv.Prefix, c.header)
	if !ok || req.contentLength > readBufferSize-hdrLen {
		return c.handOff()
	}
	if req.contentLength > 0 && c.br.Buffered() < hdrLen+req.contentLength {
		if hs.ReadTimeout > 0 {
			c.rd.setAt(c.rwc.SetReadDeadline, start.Add(hs.ReadTimeout))
		}
		if _, err := c.br.Peek(hdrLen + req.contentLength); err != nil {
			return closeConn, err
		}
	}
	c.body = append(c.body[:0], c.peeked(hdrLen + req.contentLength)[hdrLen:]...)
	if formNeedsHTTP(req.rawQuery(), c.srv.NeedsHTTP) || formNeedsHTTP(c.body, c.srv.NeedsHTTP) {
		return c.handOff()
	}
	c.header = req.header
	if c.base == nil {
		c.base = (&http.Request{}).WithContext(c.ctx)
	}
	var body io.ReadCloser
	if len(c.body) > 0 {
		c.bodyR.Reset(c.body)
		body = &c.bodyR
	}
	r, err := req.httpRequest(c.base, body, c.remote)
	if err != nil {
		return c.handOff()
	}
	// The request is ours now: consume it.
	if _, err := c.br.Discard(hdrLen + req.contentLength); err != nil {
		return closeConn, err
	}
	c.wd.update(c.rwc.SetWriteDeadline, hs.WriteTimeout)
	c.resp.reset(c.bw, r.Method, req.close || c.srv.closing.Load())
	if !c.callHandler(r) {
		return closeConn, nil
	}
	if c.resp.finish(c.srv.closing.Load()) {
		return closeConn, nil
	}
	return keepAlive, nil
}

// callHandler runs the handler; a panic (http.ErrAbortHandler included)
// closes the connection without an answer, as in net/http.
func (c *conn) callHandler(r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if v != http.ErrAbortHandler && c.srv.HTTP.ErrorLog != nil {
				c.srv.HTTP.ErrorLog.Printf("httplane: panic serving %s: %v", c.remote, v)
			}
		}
	}()
	c.srv.HTTP.Handler.ServeHTTP(&c.resp, r)
	return true
}

// peeked returns the first n buffered bytes without consuming them.
func (c *conn) peeked(n int) []byte {
	b, _ := c.br.Peek(n) // n <= Buffered(): cannot fail
	return b
}

// peekHeader reads until the buffer holds the whole header block and
// returns its length, blank line included; 0 if it does not fit or uses
// a bare line feed as a line ending, which net/http accepts and the lane
// does not parse (without this, such a request waited for a CRLF that
// never comes until the header timeout).
func (c *conn) peekHeader() (int, error) {
	for {
		buf := c.peeked(c.br.Buffered())
		if n := headerEnd(buf); n > 0 {
			if hasBareLF(buf[:n]) {
				return 0, nil
			}
			return n, nil
		}
		if c.br.Buffered() >= readBufferSize || hasBareLF(buf) {
			return 0, nil
		}
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return 0, err
		}
	}
}

// handOff gives the connection, with every unconsumed byte, to HTTP.
func (c *conn) handOff() (outcome, error) {
	if err := c.bw.Flush(); err != nil {
		return closeConn, err
	}
	_ = c.rwc.SetDeadline(time.Time{}) // net/http sets its own
	c.srv.untrack(c)
	if !c.srv.handoff.give(&handedConn{Conn: c.rwc, br: c.br}) {
		return closeConn, nil
	}
	return handedOff, nil
}

// deadline tracks the read or write deadline set on a connection, so that
// it is moved only when that matters: setting one costs a runtime timer
// update, which was a few per cent of a request.
type deadline struct {
	at    time.Time // zero: none
	known bool      // at is what the connection has
}

// update sets the deadline d from now (none for d == 0), unless the one
// set already ends less than a 64th of d before that: a keep-alive
// connection's next request then keeps its predecessor's deadline, at
// most that much earlier than its own would be.
func (dl *deadline) update(set func(time.Time) error, d time.Duration) {
	if d <= 0 {
		if !dl.known || !dl.at.IsZero() {
			dl.setAt(set, time.Time{})
		}
		return
	}
	want := time.Now().Add(d)
	if dl.known && !dl.at.IsZero() && !want.Before(dl.at) && want.Sub(dl.at) < d/64 {
		return
	}
	dl.setAt(set, want)
}

// setAt sets the deadline t (none for the zero time).
func (dl *deadline) setAt(set func(time.Time) error, t time.Time) {
	_ = set(t)
	dl.at, dl.known = t, true
}
