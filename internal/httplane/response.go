package httplane

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// responseWriter buffers one answer whole; finish sends it with a
// Content-Length. An answer that grows past streamAfter without a
// Content-Length set (a large directory listing) is sent as it comes
// instead, chunked, so that it is never held whole. It is reused for
// every request of a connection.
type responseWriter struct {
	header http.Header
	status int // 0 until WriteHeader or Write
	body   []byte
	fields []headerField // scratch for sorting the headers
	num    [20]byte      // scratch for formatting numbers

	// bw, method and closeConn are the connection's writer, the request's
	// method and whether the connection closes after it, for an answer
	// sent before the handler returns.
	bw        *bufio.Writer
	method    string
	closeConn bool
	streaming bool  // the head went out; Write sends chunks
	err       error // the first failed write of a streamed answer
}

// streamAfter is how much of an answer without a Content-Length is
// buffered before it is streamed.
const streamAfter = 128 << 10

// headerField is one header name and its values.
type headerField struct {
	name   string
	values []string
}

func (w *responseWriter) reset(bw *bufio.Writer, method string, closeConn bool) {
	if w.header == nil {
		w.header = make(http.Header, 8)
	} else {
		clear(w.header)
	}
	w.status = 0
	w.body = w.body[:0]
	w.bw, w.method, w.closeConn = bw, method, closeConn
	w.streaming, w.err = false, nil
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.streaming {
		w.writeChunk(p)
		return len(p), w.err
	}
	w.body = append(w.body, p...)
	if len(w.body) >= streamAfter && w.method != http.MethodHead && w.header["Content-Length"] == nil {
		w.streaming = true
		w.closeConn = w.closeConn || textEqual(w.header.Get("Connection"), "close")
		w.writeHead(true)
		w.writeChunk(w.body)
		w.body = w.body[:0]
	}
	return len(p), w.err
}

// writeChunk sends p as one chunk of a streamed answer.
func (w *responseWriter) writeChunk(p []byte) {
	if w.err != nil || len(p) == 0 {
		return
	}
	w.bw.Write(strconv.AppendUint(w.num[:0], uint64(len(p)), 16))
	w.bw.WriteString("\r\n")
	w.bw.Write(p)
	_, w.err = w.bw.WriteString("\r\n")
}

// finish sends the answer once the handler returned, and reports whether
// the connection must close after it: it must when closing (the server is
// shutting down), said so in a buffered answer's head.
func (w *responseWriter) finish(closing bool) (closeConn bool) {
	if w.streaming {
		if w.err == nil {
			_, w.err = w.bw.WriteString("0\r\n\r\n")
		}
		return w.closeConn || closing || w.err != nil
	}
	w.closeConn = w.closeConn || closing || textEqual(w.header.Get("Connection"), "close")
	w.writeHead(false)
	if bodyAllowed(w.statusOrOK()) && w.method != http.MethodHead {
		w.bw.Write(w.body)
	}
	return w.closeConn
}

func (w *responseWriter) statusOrOK() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// bodyAllowed: 1xx, 204 and 304 answers have no body.
func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200) && status != http.StatusNoContent && status != http.StatusNotModified
}

// headerValue is how net/http writes a header value: each CR or LF
// becomes a space.
var headerValue = strings.NewReplacer("\r", " ", "\n", " ")

// writeHead writes the answer's head as net/http would: status line, the
// handler's headers (sorted, invalid names dropped, line breaks in values
// made spaces), Date, then Content-Length (or, chunked, Transfer-Encoding)
// and, if the handler set none, a sniffed Content-Type.
func (w *responseWriter) writeHead(chunked bool) {
	bw := w.bw
	status := w.statusOrOK()
	num := w.num[:0]
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(num, int64(status), 10))
	bw.WriteByte(' ')
	if text := http.StatusText(status); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(strconv.AppendInt(num, int64(status), 10))
	}
	bw.WriteString("\r\n")

	hasBody := bodyAllowed(status)
	if hasBody && len(w.body) > 0 {
		if _, set := w.header["Content-Type"]; !set {
			w.header["Content-Type"] = []string{http.DetectContentType(w.body)}
		}
	}
	// One pass over the map, then an insertion sort: an answer has a
	// dozen headers at most, and map lookups and a general sort were
	// most of the cost of writing them.
	w.fields = w.fields[:0]
	for k, vs := range w.header {
		if validName(k) && k != "Connection" && k != "Transfer-Encoding" {
			w.fields = append(w.fields, headerField{k, vs})
			for i := len(w.fields) - 1; i > 0 && w.fields[i].name < w.fields[i-1].name; i-- {
				w.fields[i], w.fields[i-1] = w.fields[i-1], w.fields[i]
			}
		}
	}
	for _, f := range w.fields {
		for _, v := range f.values {
			bw.WriteString(f.name)
			bw.WriteString(": ")
			if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
				v = headerValue.Replace(v)
			}
			bw.WriteString(textproto.TrimString(v)) // ASCII spaces only, as net/http
			bw.WriteString("\r\n")
		}
	}
	if _, set := w.header["Date"]; !set {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate(time.Now()))
		bw.WriteString("\r\n")
	}
	if chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	} else if _, set := w.header["Content-Length"]; hasBody && !set {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num, int64(len(w.body)), 10))
		bw.WriteString("\r\n")
	}
	if w.closeConn {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

// dateCache holds the Date header of the current second: formatting it was
// a few per cent of a small answer.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	unix int64
	text string
}

// httpDate is now in http.TimeFormat.
func httpDate(now time.Time) string {
	if d := dateCache.Load(); d != nil && d.unix == now.Unix() {
		return d.text
	}
	d := &cachedDate{now.Unix(), now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}
