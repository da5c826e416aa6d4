package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// rawClient is one keep-alive HTTP/1.1 connection driven by one worker, for
// the put, get and fill loads. net/http's client costs the load tool about
// 55 µs of CPU per request, on the same cores as the server under test; that
// caps any server at ~17k requests/s on a 2-core machine and squeezes every
// ratio towards 1. This client writes requests with one Write and parses
// just enough of the answer (status, Content-Length or chunked body,
// Connection: close), like wrk does. Not safe for concurrent use.
type rawClient struct {
	addr     string // host:port to dial
	basePath string // path of the endpoint URL, without a trailing slash
	host     string // Host header
	timeout  time.Duration

	conn net.Conn
	br   *bufio.Reader
	req  []byte // reused request buffer
}

// newRawClient returns a client for base (an http:// URL), or ok=false for
// anything else (https goes through net/http).
func newRawClient(base string, timeout time.Duration) (*rawClient, bool) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, false
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawClient{addr: addr, basePath: strings.TrimSuffix(u.Path, "/"), host: u.Host, timeout: timeout}, true
}

var errBadResponse = errors.New("bad HTTP response")

// do sends one request (path includes the query) with an optional urlencoded
// form body, and returns the status and, when keep is set or the status is
// not 2xx, the body. Any failure closes the connection; the next call
// redials.
func (c *rawClient) do(method, path string, form []byte, keep bool) (int, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	if c.timeout > 0 {
		_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	}
	b := append(c.req[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	if form != nil {
		b = append(b, "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(form)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, form...)
	c.req = b
	if _, err := c.conn.Write(b); err != nil {
		c.close()
		return 0, nil, err
	}
	status, body, closeAfter, err := c.readResponse(keep)
	if err != nil || closeAfter {
		c.close()
	}
	return status, body, err
}

func (c *rawClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// readResponse reads one response; the body is returned when keep is set or
// the status is not 2xx (capped at errBodyLimit), and discarded otherwise.
func (c *rawClient) readResponse(keep bool) (status int, body []byte, closeAfter bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, true, err
	}
	// "HTTP/1.1 201 Created\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, true, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, true, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	length, chunked := int64(-1), false
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, true, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, nil, true, fmt.Errorf("%w: Content-Length %q", errBadResponse, value)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "Connection"):
			closeAfter = asciiEqualFold(value, "close")
		}
	}
	want := keep || status/100 != 2
	var sink bytes.Buffer
	w := io.Writer(io.Discard)
	if want {
		w = &limitedBuffer{buf: &sink, limit: errBodyLimit}
		if keep {
			w = &sink
		}
	}
	switch {
	case chunked:
		err = readChunked(c.br, w)
	case length >= 0:
		_, err = io.CopyN(w, c.br, length)
	default:
		// No length: the body runs to the end of the connection.
		_, err = io.Copy(w, c.br)
		closeAfter = true
	}
	if err != nil {
		return 0, nil, true, err
	}
	if want {
		body = sink.Bytes()
	}
	return status, body, closeAfter, nil
}

// readChunked copies a chunked body to w and consumes its trailer.
func readChunked(br *bufio.Reader, w io.Writer) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeField, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseInt(string(bytes.TrimSpace(sizeField)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: chunk size %q", errBadResponse, line)
		}
		if size == 0 {
			for { // trailer lines, then an empty line
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := io.CopyN(w, br, size); err != nil {
			return err
		}
		if _, err := br.Discard(2); err != nil { // CRLF after the chunk
			return err
		}
	}
}

// limitedBuffer keeps the first limit bytes written and drops the rest.
type limitedBuffer struct {
	buf   *bytes.Buffer
	limit int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.limit - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// rawKind names a failure of the raw client for the error tally.
func rawKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errBadResponse):
		return "decode"
	default:
		return "conn"
	}
}
