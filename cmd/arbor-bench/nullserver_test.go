package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

func TestNullServerAnswersLikeEtcd(t *testing.T) {
	srv := httptest.NewServer(&nullServer{})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/keys/a/b",
		strings.NewReader(url.Values{"value": {"v1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Action string
		Node   struct {
			Key, Value    string
			ModifiedIndex uint64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Etcd-Index") != "1" ||
		body.Action != "set" || body.Node.Key != "/a/b" || body.Node.Value != "v1" || body.Node.ModifiedIndex != 1 {
		t.Fatalf("status %d, index %q, body %+v", resp.StatusCode, resp.Header.Get("X-Etcd-Index"), body)
	}
}

func TestNullServerModeServesTheTool(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errOut := &testutil.Buffer{}
	done := make(chan int)
	addr := "127.0.0.1:0"
	// Port 0 lets the kernel pick; the address is announced on stderr.
	go func() { done <- run(ctx, []string{"-listen", addr, "null-server"}, &bytes.Buffer{}, errOut) }()
	var base string
	for base == "" {
		select {
		case code := <-done:
			t.Fatalf("null-server exited %d: %s", code, errOut.String())
		default:
		}
		if s := errOut.String(); strings.Contains(s, "listening on ") {
			base = strings.TrimSpace(s[strings.Index(s, "listening on ")+len("listening on "):])
		}
		time.Sleep(5 * time.Millisecond)
	}
	res := runTool(t, &httptest.Server{URL: base}, "-clients", "2", "-total", "20", "-json-only", "put")
	if num(t, res, "ops") != 20 || num(t, res, "errors") != 0 {
		t.Fatalf("against the null server: %v", res)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("null-server exit %d after cancel: %s", code, errOut.String())
	}
}

// An https endpoint is verified against -ca-file: with it every request
// goes through; without it (a self-signed test certificate) none does,
// and a file with no certificate is refused before the run.
func TestHTTPSEndpointWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(&nullServer{})
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runTool(t, srv, "-ca-file", ca, "-clients", "2", "-total", "20", "-json-only", "put")
	if num(t, res, "ops") != 20 || num(t, res, "errors") != 0 {
		t.Fatalf("https with -ca-file: %v", res)
	}
	res = runTool(t, srv, "-clients", "2", "-duration", "200ms", "-json-only", "put")
	if num(t, res, "ops") != 0 || num(t, res, "errors") == 0 {
		t.Fatalf("https without -ca-file: %v", res)
	}
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-endpoints", srv.URL, "-ca-file", ca, "put"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "no PEM certificate") {
		t.Fatalf("a -ca-file without certificates: exit %d, %s", code, errOut.String())
	}
}
