package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRawClientBodiesAndReconnects(t *testing.T) {
	var conns int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part1-"))
			w.(http.Flusher).Flush() // forces chunked encoding
			w.Write([]byte("part2"))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case "/form":
			r.ParseForm()
			fmt.Fprintf(w, "%s %s", r.Method, r.PostForm.Get("value"))
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"errorCode":100,"message":"Key not found"}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns++
		}
	}
	srv.Start()
	defer srv.Close()

	c, ok := newRawClient(srv.URL, 5*time.Second)
	if !ok {
		t.Fatal("http URL refused")
	}
	defer c.close()
	for _, tc := range []struct {
		method, path, form, want string
		status                   int
	}{
		{"GET", "/chunked", "", "part1-part2", 200},
		{"PUT", "/form", "value=x", "PUT x", 200},
		{"GET", "/close", "", "bye", 200},
		{"GET", "/form", "", "GET ", 200}, // after a close: redials
		{"GET", "/missing", "", `{"errorCode":100,"message":"Key not found"}`, 404},
	} {
		var form []byte
		if tc.form != "" {
			form = []byte(tc.form)
		}
		status, body, err := c.do(tc.method, tc.path, form, true)
		if err != nil || status != tc.status || string(body) != tc.want {
			t.Fatalf("%s %s: %d %q %v, want %d %q", tc.method, tc.path, status, body, err, tc.status, tc.want)
		}
	}
	// A 404 body is kept even when keep is false, for error classification.
	if status, body, _ := c.do("GET", "/missing", nil, false); status != 404 || !strings.Contains(string(body), "errorCode") {
		t.Fatalf("error body dropped: %d %q", status, body)
	}
	if conns != 2 {
		t.Fatalf("%d connections, want 2 (one keep-alive, one after Connection: close)", conns)
	}
	if _, ok := newRawClient("https://127.0.0.1:1", time.Second); ok {
		t.Fatal("https accepted by the raw client")
	}
}
