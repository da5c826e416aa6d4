package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// These tests cover what the golden files cannot: arborctl's own
// behaviour where it deliberately differs from etcdctl 3.4, situations a
// single healthy etcd cannot produce, and process-level wiring (signals).

// stubServer answers from a table of "METHOD path" → handler and records
// the requests it got.
type stubServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newStub(t *testing.T, routes map[string]http.HandlerFunc) *stubServer {
	s := &stubServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		h, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(func() {
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

func (s *stubServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

func jsonReply(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Etcd-Index", "7")
		io.WriteString(w, body)
	}
}

// membersOf answers /v2/members with one member whose client URL is the
// stub itself.
func selfMembers(s **stubServer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"members":[{"id":"a1","name":"one","peerURLs":["http://127.0.0.1:2380"],"clientURLs":[%q]}]}`, (*s).URL)
	}
}

const svcBody = `{"action":"get","node":{"key":"/svclocation","value":"10.1.1.20:80","modifiedIndex":4,"createdIndex":4}}`

// runCLI runs arborctl in-process.
type cliRun struct {
	stdout, stderr string
	code           int
}

func runCLI(t *testing.T, ctx context.Context, env map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if ctx == nil {
		ctx = context.Background()
	}
	a := &app{
		stdin:   strings.NewReader(stdin),
		stdout:  &stdout,
		stderr:  &stderr,
		getenv:  func(k string) string { return env[k] },
		environ: func() []string { return []string{"PATH=" + os.Getenv("PATH")} },
		ctx:     ctx,
		readPassword: func(prompt string) (string, error) {
			if env["PASSWORD"] == "" {
				return "", errors.New("no password")
			}
			return env["PASSWORD"], nil
		},
	}
	code := run(a, args)
	return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func TestPeersWithoutScheme(t *testing.T) {
	var s *stubServer
	s = newStub(t, map[string]http.HandlerFunc{
		"GET /v2/members":          selfMembers(&s),
		"GET /v2/keys/svclocation": jsonReply(svcBody),
	})
	hostPort := strings.TrimPrefix(s.URL, "http://")
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"--peers":       {nil, []string{"--peers", hostPort, "get", "/svclocation"}},
		"-C":            {nil, []string{"-C", hostPort, "get", "/svclocation"}},
		"--endpoints":   {nil, []string{"--endpoints", " " + hostPort + " ", "get", "/svclocation"}},
		"ETCDCTL_PEERS": {map[string]string{"ETCDCTL_PEERS": hostPort}, []string{"get", "/svclocation"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, nil, tc.env, "", tc.args...)
			if r.code != 0 || r.stdout != "10.1.1.20:80\n" || r.stderr != "" {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestGlobalFlagsAfterCommand(t *testing.T) {
	// etcdctl wants global flags first; arborctl takes them anywhere.
	var s *stubServer
	s = newStub(t, map[string]http.HandlerFunc{
		"GET /v2/members":          selfMembers(&s),
		"GET /v2/keys/svclocation": jsonReply(svcBody),
	})
	r := runCLI(t, nil, nil, "", "get", "/svclocation", "-o", "json", "--endpoints", s.URL)
	want := `{"action":"get","node":{"key":"/svclocation","value":"10.1.1.20:80","nodes":null,"createdIndex":4,"modifiedIndex":4},"prevNode":null}` + "\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("got %+v, want stdout %q", r, want)
	}
}

func TestConsistentMeansQuorum(t *testing.T) {
	var s *stubServer
	s = newStub(t, map[string]http.HandlerFunc{
		"GET /v2/keys/svclocation": jsonReply(svcBody),
		"GET /v2/keys/":            jsonReply(`{"action":"get","node":{"dir":true}}`),
	})
	runCLI(t, nil, nil, "", "--no-sync", "--endpoints", s.URL, "get", "--consistent", "/svclocation")
	runCLI(t, nil, nil, "", "--no-sync", "--endpoints", s.URL, "ls", "--consistent")
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.URL.Query().Get("quorum") != "true" {
			t.Errorf("%s: quorum = %q, want true", r.URL, r.URL.Query().Get("quorum"))
		}
	}
}

// waitReply answers the n-th long poll with events[n]; later polls hang
// until the client goes away, after calling onIdle.
func waitReply(events []string, onIdle func()) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		if i >= len(events) {
			onIdle()
			<-r.Context().Done()
			return
		}
		w.Header().Set("X-Etcd-Index", "6")
		io.WriteString(w, events[i])
	}
}

func TestExecWatchCommandWithFlags(t *testing.T) {
	// "exec-watch KEY -- sh -c ..." watches KEY and runs sh with its own
	// flags; etcdctl 3.4 gets both wrong (see golden exec_watch_env).
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	event := `{"action":"set","node":{"key":"/k","value":"v 1","modifiedIndex":7,"createdIndex":7}}`
	dirEvent := `{"action":"set","node":{"key":"/k/d","dir":true,"modifiedIndex":8,"createdIndex":8}}`
	s := newStub(t, map[string]http.HandlerFunc{
		"GET /v2/keys/k": waitReply([]string{event, dirEvent}, interrupt),
	})
	r := runCLI(t, ctx, nil, "", "--no-sync", "--endpoints", s.URL, "exec-watch", "/k", "--", "sh", "-c",
		`echo "$ETCD_WATCH_ACTION|$ETCD_WATCH_KEY|$ETCD_WATCH_VALUE|$ETCD_WATCH_MODIFIED_INDEX"`)
	if r.code != 0 || r.stdout != "set|/k|v 1|7\n" || r.stderr != "Ignored dir /k/d change\n" {
		t.Errorf("got %+v", r)
	}
	var uris []string
	for _, req := range s.requests() {
		uris = append(uris, req.URL.RequestURI())
	}
	want := []string{
		"/v2/keys/k?recursive=false&wait=true&waitIndex=0",
		"/v2/keys/k?recursive=false&wait=true&waitIndex=8",
		"/v2/keys/k?recursive=false&wait=true&waitIndex=9",
	}
	if strings.Join(uris, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(uris, "\n"), strings.Join(want, "\n"))
	}
}

func TestExecWatchAfterIndex(t *testing.T) {
	// --after-index N starts after N, as for watch (etcdctl 3.4 starts
	// after N+1 here).
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	s := newStub(t, map[string]http.HandlerFunc{"GET /v2/keys/k": waitReply(nil, interrupt)})
	r := runCLI(t, ctx, nil, "", "--no-sync", "--endpoints", s.URL, "exec-watch", "--after-index", "41", "/k", "true")
	if r.code != 0 {
		t.Errorf("got %+v", r)
	}
	if got := s.requests()[0].URL.Query().Get("waitIndex"); got != "42" {
		t.Errorf("waitIndex = %s, want 42", got)
	}
}

func TestSplitExecArgs(t *testing.T) {
	tests := []struct {
		args    []string
		dash    int
		key     string
		argv    []string
		wantErr bool
	}{
		{[]string{"/k", "echo", "hi"}, 1, "/k", []string{"echo", "hi"}, false},
		{[]string{"/k", "echo", "hi"}, -1, "/k", []string{"echo", "hi"}, false},
		{[]string{"/k"}, -1, "", nil, true},
		{[]string{"/k"}, 1, "", nil, true},
		{[]string{"echo"}, 0, "", nil, true},
	}
	for _, tt := range tests {
		key, argv, ok := splitExecArgs(tt.args, tt.dash)
		if ok == tt.wantErr || key != tt.key || strings.Join(argv, " ") != strings.Join(tt.argv, " ") {
			t.Errorf("splitExecArgs(%q, %d) = %q, %q, %v", tt.args, tt.dash, key, argv, ok)
		}
	}
}

func TestExecWatchCommandNotFound(t *testing.T) {
	event := `{"action":"set","node":{"key":"/k","value":"v","modifiedIndex":7,"createdIndex":7}}`
	s := newStub(t, map[string]http.HandlerFunc{"GET /v2/keys/k": waitReply([]string{event}, func() {})})
	r := runCLI(t, nil, nil, "", "--no-sync", "--endpoints", s.URL, "exec-watch", "/k", "--", "/nonexistent/arborctl-test")
	if r.code != exitBadArgs || !strings.Contains(r.stderr, "/nonexistent/arborctl-test") {
		t.Errorf("got %+v", r)
	}
}

func TestClusterHealthDegradedAndUnavailable(t *testing.T) {
	// Outputs as etcdctl 3.4 prints them for the same answers.
	dead1, dead2 := freeDeadURL(t), freeDeadURL(t)
	for _, tc := range []struct {
		health string
		want   string
	}{
		{`{"health":"true"}`, "member a1 is healthy: got healthy result from {{SELF}}\n" +
			"failed to check the health of member b2 on {{D1}}: Get \"{{D1}}/health\": dial tcp {{D1A}}: connect: connection refused\n" +
			"failed to check the health of member b2 on {{D2}}: Get \"{{D2}}/health\": dial tcp {{D2A}}: connect: connection refused\n" +
			"member b2 is unreachable: [{{D1}} {{D2}}] are all unreachable\n" +
			"member c3 is unreachable: no available published client urls\n" +
			"cluster is degraded\n"},
		{`{"health":false}`, "member a1 is unhealthy: got unhealthy result from {{SELF}}\n" +
			"failed to check the health of member b2 on {{D1}}: Get \"{{D1}}/health\": dial tcp {{D1A}}: connect: connection refused\n" +
			"failed to check the health of member b2 on {{D2}}: Get \"{{D2}}/health\": dial tcp {{D2A}}: connect: connection refused\n" +
			"member b2 is unreachable: [{{D1}} {{D2}}] are all unreachable\n" +
			"member c3 is unreachable: no available published client urls\n" +
			"cluster is unavailable\n"},
	} {
		var s *stubServer
		s = newStub(t, map[string]http.HandlerFunc{
			"GET /v2/members": func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"members":[{"id":"a1","name":"one","peerURLs":["http://127.0.0.1:1"],"clientURLs":[%q]},`+
					`{"id":"b2","name":"two","peerURLs":["http://127.0.0.1:2"],"clientURLs":[%q,%q]},`+
					`{"id":"c3","name":"","peerURLs":["http://127.0.0.1:3"],"clientURLs":[]}]}`, s.URL, dead1, dead2)
			},
			"GET /health": jsonReply(tc.health),
		})
		want := strings.NewReplacer("{{SELF}}", s.URL, "{{D1}}", dead1, "{{D2}}", dead2,
			"{{D1A}}", strings.TrimPrefix(dead1, "http://"), "{{D2A}}", strings.TrimPrefix(dead2, "http://")).Replace(tc.want)
		r := runCLI(t, nil, nil, "", "--endpoints", s.URL, "cluster-health")
		if r.code != exitClusterNotHealthy || r.stdout != want || r.stderr != "" {
			t.Errorf("got %+v\nwant stdout:\n%s", r, want)
		}
	}
}

func TestMemberListUnstartedAndLeader(t *testing.T) {
	s := newStub(t, map[string]http.HandlerFunc{
		"GET /v2/members": jsonReply(`{"members":[{"id":"a1","name":"one","peerURLs":["http://127.0.0.1:1"],"clientURLs":["http://127.0.0.1:11"]},` +
			`{"id":"b2","name":"two","peerURLs":["http://127.0.0.1:2","http://127.0.0.2:2"],"clientURLs":["http://127.0.0.1:12","http://127.0.0.2:12"]},` +
			`{"id":"c3","name":"","peerURLs":["http://127.0.0.1:3"],"clientURLs":[]}]}`),
		"GET /v2/members/leader": jsonReply(`{"id":"b2","name":"two","peerURLs":["http://127.0.0.1:2"],"clientURLs":[]}`),
	})
	r := runCLI(t, nil, nil, "", "--no-sync", "--endpoints", s.URL, "member", "list")
	want := "a1: name=one peerURLs=http://127.0.0.1:1 clientURLs=http://127.0.0.1:11 isLeader=false\n" +
		"b2: name=two peerURLs=http://127.0.0.1:2,http://127.0.0.2:2 clientURLs=http://127.0.0.1:12,http://127.0.0.2:12 isLeader=true\n" +
		"c3[unstarted]: peerURLs=http://127.0.0.1:3\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("got %+v\nwant stdout:\n%s", r, want)
	}
}

func TestNoPublishedEndpoints(t *testing.T) {
	s := newStub(t, map[string]http.HandlerFunc{
		"GET /v2/members": jsonReply(`{"members":[{"id":"a1","name":"one","peerURLs":["http://127.0.0.1:1"],"clientURLs":[]}]}`),
	})
	r := runCLI(t, nil, nil, "", "--endpoints", s.URL, "get", "/k")
	want := "etcd cluster has no published client endpoints.\n" +
		"Try '--no-sync' if you want to access non-published client endpoints(" + s.URL + ").\n" +
		"Error:  client: no endpoints available\n"
	if r.code != exitServerError || r.stderr != want {
		t.Errorf("got %+v\nwant stderr:\n%s", r, want)
	}
}

func TestUsername(t *testing.T) {
	var s *stubServer
	s = newStub(t, map[string]http.HandlerFunc{"GET /v2/keys/svclocation": jsonReply(svcBody)})
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--username", "root:s3:cret"}, "root:s3:cret"},
		{nil, []string{"-u", "root"}, "root:typed"},
		{map[string]string{"ETCDCTL_USERNAME": "env:pw"}, nil, "env:pw"},
	} {
		env := map[string]string{"PASSWORD": "typed"}
		for k, v := range tc.env {
			env[k] = v
		}
		args := append(append([]string{"--no-sync", "--endpoints", s.URL}, tc.args...), "get", "/svclocation")
		if r := runCLI(t, nil, env, "", args...); r.code != 0 {
			t.Fatalf("%v: %+v", tc.args, r)
		}
		reqs := s.requests()
		user, pass, _ := reqs[len(reqs)-1].BasicAuth()
		if user+":"+pass != tc.want {
			t.Errorf("%v: basic auth %s:%s, want %s", tc.args, user, pass, tc.want)
		}
	}
}

func TestBadTLSFiles(t *testing.T) {
	r := runCLI(t, nil, nil, "", "--ca-file", "/nonexistent/ca.pem", "get", "/k")
	if r.code != exitBadArgs || !strings.Contains(r.stderr, "/nonexistent/ca.pem") {
		t.Errorf("got %+v", r)
	}
}

func TestVersionAndHelp(t *testing.T) {
	r := runCLI(t, nil, nil, "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "arborctl version: ") || !strings.HasSuffix(r.stdout, "\nAPI version: 2\n") {
		t.Errorf("--version: %+v", r)
	}
	r = runCLI(t, nil, nil, "")
	if r.code != 0 || !strings.Contains(r.stdout, "exec-watch") {
		t.Errorf("no arguments: %+v", r)
	}
	r = runCLI(t, nil, nil, "", "get", "--bogus")
	if r.code != exitBadArgs || !strings.Contains(r.stderr, "unknown flag: --bogus") {
		t.Errorf("bad flag: %+v", r)
	}
}

// Every command documents itself with an example, which its --help shows.
func TestEveryCommandHasExample(t *testing.T) {
	root := newRootCommand(&app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, ctx: context.Background()})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		// The path without the leading "arborctl".
		args := append(strings.Fields(c.CommandPath())[1:], "--help")
		r := runCLI(t, nil, nil, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:\n"+c.Example+"\n") {
			t.Errorf("%v: exit %d, no example in\n%s", args, r.code, r.stdout)
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(root)
	r := runCLI(t, nil, nil, "", "watch", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "arborctl watch --recursive /example") {
		t.Errorf("watch --help: %+v", r)
	}
}

func TestInterruptedCommandExits130(t *testing.T) {
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	s := newStub(t, map[string]http.HandlerFunc{
		"GET /v2/keys/k": func(w http.ResponseWriter, r *http.Request) {
			interrupt()
			<-r.Context().Done()
		},
	})
	r := runCLI(t, ctx, nil, "", "--no-sync", "--endpoints", s.URL, "get", "/k")
	if r.code != exitInterrupted || r.stdout != "" || r.stderr != "" {
		t.Errorf("got %+v", r)
	}
}

// TestSIGINT runs the real main in a child process: Ctrl-C ends a watch
// with status 0, and another command with 130.
func TestSIGINT(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"watch", "/k"}, 0},
		{[]string{"exec-watch", "-r", "/k", "--", "true"}, 0},
		{[]string{"get", "/k"}, 130},
	} {
		arrived := make(chan struct{}, 1)
		s := newStub(t, map[string]http.HandlerFunc{
			"GET /v2/keys/k": func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-r.Context().Done()
			},
		})
		cmd := exec.Command(self, append([]string{"--no-sync", "--total-timeout", "1m", "--timeout", "1m", "--endpoints", s.URL}, tc.args...)...)
		cmd.Env = beMainEnv("PATH=" + os.Getenv("PATH"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		testutil.DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		<-arrived
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("%v: exit %d after SIGINT, want %d (stderr %q)", tc.args, code, tc.code, stderr.String())
		}
	}
}

func TestMemberRemove(t *testing.T) {
	members := jsonReply(`{"members":[{"id":"a1","name":"one","peerURLs":["http://127.0.0.1:1"],"clientURLs":["http://127.0.0.1:11"]},` +
		`{"id":"b2","name":"two","peerURLs":["http://127.0.0.1:2"],"clientURLs":[]}]}`)
	s := newStub(t, map[string]http.HandlerFunc{
		"GET /v2/members":       members,
		"DELETE /v2/members/b2": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
		"DELETE /v2/members/a1": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		},
	})
	r := runCLI(t, nil, nil, "", "--no-sync", "--endpoints", s.URL, "member", "remove", "b2")
	if r.code != 0 || r.stdout != "Removed member b2 from cluster\n" || r.stderr != "" {
		t.Errorf("remove b2: %+v", r)
	}
	r = runCLI(t, nil, nil, "", "--no-sync", "--endpoints", s.URL, "member", "remove", "two")
	want := "Found a member named two; if this is correct, please use its ID, eg:\n\tarborctl member remove b2\n" +
		"For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n" +
		"Couldn't find a member in the cluster with an ID of two.\n"
	if r.code != exitBadArgs || r.stderr != want {
		t.Errorf("remove by name: %+v", r)
	}
	r = runCLI(t, nil, nil, "", "--no-sync", "--endpoints", s.URL, "member", "remove", "a1")
	want = "Received an error trying to remove member a1: client: etcd cluster is unavailable or misconfigured; error #0: client: etcd member " + s.URL + " has no leader\n"
	if r.code != exitBadArgs || r.stderr != want {
		t.Errorf("remove failing: %+v\nwant stderr %q", r, want)
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(jsonReply(svcBody))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, nil, "", "--no-sync", "--ca-file", ca, "--endpoints", srv.URL, "get", "/svclocation")
	if r.code != 0 || r.stdout != "10.1.1.20:80\n" {
		t.Errorf("with --ca-file: %+v", r)
	}
	r = runCLI(t, nil, map[string]string{"ETCDCTL_CA_FILE": ca}, "", "--no-sync", "--endpoints", srv.URL, "get", "/svclocation")
	if r.code != 0 || r.stdout != "10.1.1.20:80\n" {
		t.Errorf("with ETCDCTL_CA_FILE: %+v", r)
	}
	// Without the CA the server is not trusted.
	r = runCLI(t, nil, nil, "", "--no-sync", "--endpoints", srv.URL, "get", "/svclocation")
	if r.code != exitServerError || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without --ca-file: %+v", r)
	}
}
