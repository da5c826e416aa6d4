package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/store"
)

// readChunk reads one chunk of a chunked body and returns its data.
func readChunk(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("chunk size line: %v", err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(line, "\r\n"), 16, 32)
	if err != nil {
		t.Fatalf("chunk size line %q: %v", line, err)
	}
	data := make([]byte, n+2)
	if _, err := io.ReadFull(br, data); err != nil {
		t.Fatalf("chunk of %d bytes: %v", n, err)
	}
	if string(data[n:]) != "\r\n" {
		t.Fatalf("chunk of %d bytes not followed by CRLF: %q", n, data[n:])
	}
	return string(data[:n])
}

// A stream on an HTTP/1.1 connection is written by hand: etcd's headers,
// a quiet stream's first event at once, then every event that arrived
// while the flush interval held the stream back as one chunk; and when the
// server ends it, the last chunk, so the client sees a complete answer.
func TestRawStreamChunkPerFlush(t *testing.T) {
	sb := newStoreBackend(store.Config{})
	opts := testOptions()
	opts.StreamFlushInterval = 300 * time.Millisecond
	h := New(sb, opts)
	base, stop := context.WithCancel(context.Background())
	defer stop()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET /v2/keys/s?wait=true&stream=true&recursive=true HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" ||
		res.Header.Get("X-Etcd-Index") == "" || res.Header.Get("Date") == "" ||
		len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("head: %d %v %v", res.StatusCode, res.TransferEncoding, res.Header)
	}
	// ReadResponse consumed only the head: the chunks are read raw below.

	first := do(t, h, "PUT", "/v2/keys/s/a", "value=1").Body.String()
	if got := readChunk(t, br); got != first {
		t.Fatalf("first chunk %q, want the first event %q", got, first)
	}
	var want strings.Builder
	for i := range 3 {
		want.WriteString(do(t, h, "PUT", fmt.Sprintf("/v2/keys/s/b%d", i), "value=2").Body.String())
	}
	if got := readChunk(t, br); got != want.String() {
		t.Fatalf("second chunk %q, want the three held events %q", got, want.String())
	}

	stop() // the server shuts down
	if got := readChunk(t, br); got != "" {
		t.Fatalf("after the server ended the stream: chunk %q, want the last (empty) one", got)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after the stream ended: %v", err)
	}
}

// Header values cannot start headers of their own.
func TestStreamHeadValues(t *testing.T) {
	h := http.Header{"X-A": {"1\r\nX-Evil: 2"}, "Content-Type": {"application/json"}}
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	got := string(appendStreamHead(nil, h, now))
	want := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1  X-Evil: 2\r\n" +
		"Transfer-Encoding: chunked\r\nDate: Mon, 07 Dec 2026 08:00:00 GMT\r\n\r\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
