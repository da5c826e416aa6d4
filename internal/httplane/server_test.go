package httplane

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echo answers with what it was asked, so two servers can be compared by
// their answers. Its X-Lane header says which loop served the request.
func echo(w http.ResponseWriter, r *http.Request) {
	_, lane := w.(*responseWriter)
	w.Header().Set("X-Lane", fmt.Sprint(lane))
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "form: %v", err)
		return
	}
	if v := r.Form.Get("header"); v != "" {
		w.Header().Set("X-Echo", v) // a value from the client, line breaks and all
	}
	switch r.Form.Get("status") {
	case "204":
		w.WriteHeader(http.StatusNoContent)
		return
	case "201":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
	}
	if n, err := strconv.Atoi(r.Form.Get("size")); err == nil {
		// A large answer written in pieces, as a big listing is.
		if r.Form.Get("length") != "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		piece := bytes.Repeat([]byte("0123456789abcdef"), 512)
		for ; n > 0; n -= len(piece) {
			if _, err := w.Write(piece[:min(n, len(piece))]); err != nil {
				return
			}
		}
		return
	}
	if r.Form.Get("wait") != "" {
		// A streamed answer, as a watch writes it.
		fmt.Fprint(w, "first\n")
		_ = http.NewResponseController(w).Flush()
		fmt.Fprint(w, "second\n")
		return
	}
	fmt.Fprintf(w, "%s %s host=%s len=%d close=%v form=%v", r.Method, r.RequestURI, r.Host, r.ContentLength, r.Close, r.Form)
}

// servers starts the lane and plain net/http, both serving echo, and
// returns their addresses.
func servers(t *testing.T) (lane, plain string) {
	t.Helper()
	start := func(serve func(net.Listener) error, stop func(context.Context) error) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := stop(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		})
		return ln.Addr().String()
	}
	ls := &Server{HTTP: &http.Server{Handler: http.HandlerFunc(echo)}, Prefix: "/v2/keys", NeedsHTTP: []string{"wait"}}
	hs := &http.Server{Handler: http.HandlerFunc(echo)}
	return start(ls.Serve, ls.Shutdown), start(hs.Serve, hs.Shutdown)
}

// exchange sends raw on a new connection and reads n answers (fewer if the
// server closes the connection first).
func exchange(t *testing.T, addr, raw string, n int) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	method, _, _ := strings.Cut(raw, " ") // HEAD answers have no body
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			break
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

// summary is what two servers' answers must agree on.
type summary struct {
	Status  int
	Header  http.Header
	Body    string
	Close   bool
	Chunked bool
}

func summarize(t *testing.T, resp *http.Response) (s summary, lane string) {
	body, _ := io.ReadAll(resp.Body)
	h := resp.Header.Clone()
	lane = h.Get("X-Lane")
	if _, ok := h["Date"]; !ok && lane == "true" {
		t.Errorf("lane answer without Date: %v", resp.Header)
	}
	delete(h, "Date")
	delete(h, "X-Lane")
	chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	text := string(body)
	if len(body) > 200 {
		text = fmt.Sprintf("%d bytes, sha256 %x", len(body), sha256.Sum256(body))
	}
	return summary{resp.StatusCode, h, text, resp.Close, chunked}, lane
}

func TestAnswersMatchNetHTTP(t *testing.T) {
	lane, plain := servers(t)
	long := strings.Repeat("x", readBufferSize)
	for _, tc := range []struct {
		name  string
		raw   string
		n     int      // answers expected
		lanes []string // X-Lane per answer on the lane server
	}{
		{"get", "GET /v2/keys/a?recursive=true HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"true"}},
		{"put form", "PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nvalue=hello", 1, []string{"true"}},
		{"post created", "POST /v2/keys/q?status=201 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 1, []string{"true"}},
		{"delete", "DELETE /v2/keys/a?dir=true HTTP/1.1\r\nhost: h:1\r\n\r\n", 1, []string{"true"}},
		{"root", "GET /v2/keys HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"true"}},
		{"no content", "GET /v2/keys/a?status=204 HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"true"}},
		{"line breaks in a header value", "GET /v2/keys/a?header=a%0D%0AX-Evil:%201 HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"true"}},
		{"spaces around a header value", "GET /v2/keys/a?header=%C2%A0x%C2%A0%20%09 HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"true"}},
		{"pipelined", "GET /v2/keys/1 HTTP/1.1\r\nHost: h\r\n\r\nPUT /v2/keys/2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nv=2GET /v2/keys/3 HTTP/1.1\r\nHost: h\r\n\r\n", 3, []string{"true", "true", "true"}},
		{"connection close", "GET /v2/keys/a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /v2/keys/b HTTP/1.1\r\nHost: h\r\n\r\n", 2, []string{"true"}},
		{"watch", "GET /v2/keys/a?wait=true HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"false"}},
		{"escaped watch", "GET /v2/keys/a?w%61it=true HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"false"}},
		{"watch in the body", "POST /v2/keys/a HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nwait=true", 1, []string{"false"}},
		{"lane then net/http", "GET /v2/keys/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /v2/keys/2?wait=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /v2/keys/3 HTTP/1.1\r\nHost: h\r\n\r\n", 3, []string{"true", "false", "false"}},
		{"other path", "GET /version HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"false"}},
		{"prefix is not a path prefix", "GET /v2/keysx HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"false"}},
		{"head", "HEAD /v2/keys/a HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"false"}},
		{"http/1.0", "GET /v2/keys/a HTTP/1.0\r\n\r\n", 1, []string{"false"}},
		{"chunked", "PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nvalue=x\r\n0\r\n\r\n", 1, []string{"false"}},
		{"expect continue", "PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nv=1", 1, []string{"false"}},
		{"body larger than the buffer", "PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + fmt.Sprint(len(long)+6) + "\r\n\r\nvalue=" + long, 1, []string{"false"}},
		{"header larger than the buffer", "GET /v2/keys/a HTTP/1.1\r\nHost: h\r\nX-Big: " + long + "\r\n\r\n", 1, []string{"false"}},
		{"bad form value", "GET /v2/keys/a?x=%zz HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"true"}},
		{"bad form key", "GET /v2/keys/a?%zz=1 HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"false"}},
		{"no host", "GET /v2/keys/a HTTP/1.1\r\n\r\n", 1, []string{""}},
		{"two hosts", "GET /v2/keys/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 1, []string{""}},
		{"bad host", "GET /v2/keys/a HTTP/1.1\r\nHost: a b\r\n\r\n", 1, []string{""}},
		{"two lengths", "PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 1, []string{""}},
		{"bad header name", "GET /v2/keys/a HTTP/1.1\r\nHost: h\r\nBad Name: 1\r\n\r\n", 1, []string{""}},
		{"folded header", "GET /v2/keys/a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n", 1, []string{"false"}},
		{"control character", "GET /v2/keys/a HTTP/1.1\r\nHost: h\r\nX-A: 1\x012\r\n\r\n", 1, []string{""}},
		{"bad request line", "GET  /v2/keys/a HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{""}},
		{"unknown method", "PATCH /v2/keys/a HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"false"}},
		// Bare line feeds, which net/http accepts (printf | nc scripts).
		{"bare LF", "GET /v2/keys/a HTTP/1.1\nHost: h\n\n", 1, []string{"false"}},
		{"bare LF with a body", "PUT /v2/keys/a HTTP/1.1\nHost: h\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 7\n\nvalue=x", 1, []string{"false"}},
		{"bare LF in one header", "GET /v2/keys/a HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n", 1, []string{"false"}},
		{"bare LF after a lane request", "GET /v2/keys/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /v2/keys/2 HTTP/1.1\nHost: h\n\n", 2, []string{"true", "false"}},
		// An answer past streamAfter without a length goes out chunked,
		// and the connection goes on.
		{"large answer", "GET /v2/keys/a?size=1000000 HTTP/1.1\r\nHost: h\r\n\r\nGET /v2/keys/b HTTP/1.1\r\nHost: h\r\n\r\n", 2, []string{"true", "true"}},
		{"large answer, closing", "GET /v2/keys/a?size=300000 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 1, []string{"true"}},
		{"large answer with a length", "GET /v2/keys/a?size=300000&length=1 HTTP/1.1\r\nHost: h\r\n\r\n", 1, []string{"true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, lane, tc.raw, tc.n)
			want := exchange(t, plain, tc.raw, tc.n)
			if len(got) != len(want) {
				t.Fatalf("lane gave %d answers, net/http %d", len(got), len(want))
			}
			if len(got) < len(tc.lanes) {
				t.Fatalf("%d answers, want at least %d", len(got), len(tc.lanes))
			}
			for i := range got {
				g, gotLane := summarize(t, got[i])
				w, _ := summarize(t, want[i])
				if !reflect.DeepEqual(g, w) {
					dump, _ := httputil.DumpResponse(got[i], false)
					t.Errorf("answer %d:\nlane     %+v\nnet/http %+v\n%s", i, g, w, dump)
				}
				if i < len(tc.lanes) && gotLane != tc.lanes[i] {
					t.Errorf("answer %d served by the lane: %q, want %q", i, gotLane, tc.lanes[i])
				}
			}
		})
	}
}

// A keep-alive client that has sent nothing is closed by Shutdown at once;
// a request in progress is answered (with Connection: close) first.
func TestShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/keys/slow" {
			close(entered)
			<-release
		}
		fmt.Fprint(w, "ok")
	})
	ls := &Server{HTTP: &http.Server{Handler: h}, Prefix: "/v2/keys"}
	served := make(chan error, 1)
	go func() { served <- ls.Serve(ln) }()

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := io.WriteString(busy, "GET /v2/keys/slow HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- ls.Shutdown(context.Background()) }()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d, %v; want EOF", n, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("request in progress: %v", err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "ok" || !resp.Close {
		t.Fatalf("request in progress: body %q, close %v", body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

// A client that stops halfway through its headers is cut off after
// ReadHeaderTimeout, one that stops halfway through its body after
// ReadTimeout; a served connection then idles for IdleTimeout.
func TestTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	ls := &Server{HTTP: hs, Prefix: "/v2/keys"}
	go func() { _ = ls.Serve(ln) }()
	defer ls.Shutdown(context.Background())

	for _, tc := range []struct {
		name, raw string
		answers   int
	}{
		{"half a header", "GET /v2/keys/a HTTP/1.1\r\nHost:", 0},
		{"half a body", "PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nvalue", 0},
		{"idle after an answer", "GET /v2/keys/a HTTP/1.1\r\nHost: h\r\n\r\n", 1},
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, _ = io.WriteString(c, tc.raw)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		data, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v (the server did not close the connection)", tc.name, err)
		}
		if n := bytes.Count(data, []byte("HTTP/1.1 ")); n != tc.answers {
			t.Errorf("%s: %d answers, want %d: %q", tc.name, n, tc.answers, data)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("%s: closed after %v", tc.name, d)
		}
	}
}

// Many clients at once, each with several requests, some of them handed
// off mid-connection: every answer arrives, in order.
func TestConcurrentClients(t *testing.T) {
	lane, _ := servers(t)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw strings.Builder
			for j := range 10 {
				q := ""
				if i%4 == 0 && j == 7 {
					q = "&wait=true"
				}
				fmt.Fprintf(&raw, "PUT /v2/keys/%d/%d?x=1%s HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nv=%03d", i, j, q, j)
			}
			got := exchange(t, lane, raw.String(), 10)
			if len(got) != 10 {
				t.Errorf("client %d: %d answers", i, len(got))
				return
			}
			for j, resp := range got {
				body, _ := io.ReadAll(resp.Body)
				if want := fmt.Sprintf("/v2/keys/%d/%d?", i, j); !bytes.Contains(body, []byte(want)) && !bytes.HasPrefix(body, []byte("first")) {
					t.Errorf("client %d answer %d: %q", i, j, body)
				}
			}
		}()
	}
	wg.Wait()
}

// A deadline is moved only when the new one is later by a 64th of its
// duration or more, or when it is removed or brought forward.
func TestDeadlineUpdate(t *testing.T) {
	var sets []time.Time
	set := func(at time.Time) error { sets = append(sets, at); return nil }
	var dl deadline
	dl.update(set, time.Minute) // first: always set
	dl.update(set, time.Minute) // a moment later: kept
	if len(sets) != 1 || time.Until(sets[0]) < 59*time.Second {
		t.Fatalf("sets %v", sets)
	}
	dl.update(set, time.Second) // earlier: set
	if len(sets) != 2 {
		t.Fatalf("an earlier deadline was not set: %v", sets)
	}
	dl.update(set, time.Minute) // much later: set
	dl.update(set, 0)           // none: set once
	dl.update(set, 0)
	if len(sets) != 4 || !sets[3].IsZero() {
		t.Fatalf("sets %v", sets)
	}
	dl.at = time.Now().Add(time.Minute - 2*time.Minute/64) // older than the slack
	dl.update(set, time.Minute)
	if len(sets) != 5 {
		t.Fatalf("a deadline a 32nd too early was kept: %v", sets)
	}
}

func TestHTTPDate(t *testing.T) {
	for _, at := range []time.Time{time.Now(), time.Unix(1e9, 0), time.Unix(1e9, 999e6), time.Unix(1e9+1, 0)} {
		if got, want := httpDate(at), at.UTC().Format(http.TimeFormat); got != want {
			t.Errorf("httpDate(%v) = %q, want %q", at, got, want)
		}
	}
}

// failingListener fails its first fails Accepts with err, then accepts.
type failingListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
	err   error
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, l.err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// Running out of file descriptors (EMFILE, which is no timeout) or
// buffers is waited out, as net/http does: giving up would close the
// client port for good. Any other Accept error ends Serve with it.
func TestAcceptErrors(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS} {
		t.Run(errno.Error(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			// What the net package returns for accept4 failing so.
			fail := &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: os.NewSyscallError("accept4", errno)}
			var logged bytes.Buffer
			var logMu sync.Mutex
			ls := &Server{HTTP: &http.Server{Handler: http.HandlerFunc(echo), ErrorLog: log.New(lockedWriter{&logMu, &logged}, "", 0)}, Prefix: "/v2/keys"}
			served := make(chan error, 1)
			go func() { served <- ls.Serve(&failingListener{Listener: ln, fails: 3, err: fail}) }()
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String() + "/v2/keys/a?x=1")
			if err != nil {
				t.Fatalf("after %v: %v", errno, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("after %v: status %d", errno, resp.StatusCode)
			}
			logMu.Lock()
			if n := strings.Count(logged.String(), "retrying"); n != 3 {
				t.Errorf("logged %d retries, want 3:\n%s", n, logged.String())
			}
			logMu.Unlock()
			if err := ls.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
	t.Run("broken listener", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		broken := errors.New("listener broke")
		ls := &Server{HTTP: &http.Server{Handler: http.HandlerFunc(echo)}, Prefix: "/v2/keys"}
		if err := ls.Serve(&failingListener{Listener: ln, fails: 1, err: broken}); !errors.Is(err, broken) {
			t.Fatalf("Serve = %v, want %v", err, broken)
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
