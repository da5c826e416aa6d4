package httpapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// watchBody is where a watch's answer goes: Write adds to it, Flush sends
// what was written.
type watchBody interface {
	Write(p []byte) (int, error)
	Flush() error
}

// netHTTPBody writes through net/http: its chunked writer and buffers.
type netHTTPBody struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (b netHTTPBody) Write(p []byte) (int, error) { return b.w.Write(p) }
func (b netHTTPBody) Flush() error                { return b.rc.Flush() }

// rawStream writes a stream=true answer on a connection taken over from
// net/http: the status line and headers once, then everything written
// between two flushes as one chunk in one write call. Through net/http a
// flush of a few events took a write call per 4 KiB (its buffers are 2 and
// 4 KiB), and with a thousand streams those calls were most of the
// server's CPU.
type rawStream struct {
	conn net.Conn
	// buf holds the chunk being built, after chunkRoom bytes left free for
	// its size line.
	buf []byte
}

// chunkRoom fits a chunk's size line: up to 8 hex digits and CRLF.
const chunkRoom = 10

// takeOverStream hijacks r's connection for a stream whose status is 200
// and whose headers are in w.Header(), and sends them. It returns nil, and
// leaves w to net/http, where that cannot be done (HTTP/1.0, HTTP/2, a
// test's recorder). ctx is the watch's context; the returned one also ends
// when the client closes the connection. Call done when the stream ends.
func takeOverStream(ctx context.Context, w http.ResponseWriter, r *http.Request) (s *rawStream, sctx context.Context, done func()) {
	if !r.ProtoAtLeast(1, 1) || r.Method == http.MethodHead {
		return nil, ctx, nil
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, ctx, nil
	}
	if sw, ok := w.(*statusWriter); ok && sw.status == 0 {
		sw.status = http.StatusOK
	}
	// A watch may rightly stay open for hours: the server's timeouts
	// (-http-read-timeout, -http-write-timeout) are for ordinary requests.
	_ = conn.SetDeadline(time.Time{})
	sctx, cancel := context.WithCancel(ctx)
	// A client ends a stream by closing its connection: reading tells.
	// Anything it sends meanwhile has no meaning and is dropped.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		_, _ = io.Copy(io.Discard, brw.Reader)
		cancel()
	}()
	s = &rawStream{conn: conn, buf: make([]byte, chunkRoom, 4096)}
	_, err = conn.Write(appendStreamHead(nil, w.Header(), time.Now()))
	if err != nil {
		cancel()
	}
	return s, sctx, func() {
		s.finish()
		cancel()
		<-readerDone
	}
}

// appendStreamHead appends the status line and headers of a chunked 200
// answer as net/http writes them: the handler's headers sorted by name,
// then Transfer-Encoding and Date.
func appendStreamHead(b []byte, h http.Header, now time.Time) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\n"...)
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range h[name] {
			b = append(b, name...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "Transfer-Encoding: chunked\r\nDate: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	return append(b, "\r\n\r\n"...)
}

// appendHeaderValue appends v with line breaks turned into spaces, as
// net/http does, so that no value can start a header of its own.
func appendHeaderValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

func (s *rawStream) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// Flush sends what was written since the last flush as one chunk, in one
// write call.
func (s *rawStream) Flush() error {
	return s.send(nil)
}

// send writes the pending data as one chunk, then tail, in one call. A
// chunk's size fits chunkRoom: a flush carries at most 1+maxCoalesced
// events of at most the request size limit each, well under 4 GiB.
func (s *rawStream) send(tail []byte) error {
	start := chunkRoom
	if data := s.buf[chunkRoom:]; len(data) > 0 {
		var line [chunkRoom]byte
		size := strconv.AppendUint(line[:0], uint64(len(data)), 16)
		size = append(size, '\r', '\n')
		start -= len(size)
		copy(s.buf[start:], size)
		s.buf = append(s.buf, '\r', '\n')
	}
	s.buf = append(s.buf, tail...)
	out := s.buf[start:]
	if cap(s.buf) > maxKeptBuffer {
		// Do not keep one large flush's buffer for the stream's lifetime.
		s.buf = make([]byte, chunkRoom, 4096)
	} else {
		s.buf = s.buf[:chunkRoom]
	}
	if len(out) == 0 {
		return nil
	}
	_, err := s.conn.Write(out)
	return err
}

// maxKeptBuffer is the largest chunk buffer a stream keeps between flushes.
const maxKeptBuffer = 64 << 10

// finish sends what is pending and the last chunk, and closes the
// connection: net/http cannot take it back, and a client reconnects.
func (s *rawStream) finish() {
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = s.send([]byte("0\r\n\r\n"))
	_ = s.conn.Close()
}
