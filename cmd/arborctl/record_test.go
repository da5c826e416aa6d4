package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// recordPort is the client port of the etcd that goldens are recorded
// from (its peer port is the next one). Fixed, because member list shows
// the peer URL.
const recordPort = 44100

// spec is one step of the recording session. Steps run in order against
// one fresh etcd, so each sees the state the previous ones left.
type spec struct {
	// name is the golden file's name; empty runs the step without saving
	// it (setup).
	name string
	// args are etcdctl's arguments, split on spaces; argv, if set, is used
	// instead. "--endpoints {{ENDPOINT}}" goes first unless noEndpoint.
	args       string
	argv       []string
	noEndpoint bool
	stdin      string
	env        map[string]string
	// triggers are writes made directly to etcd, the k-th once the
	// command's k-th long poll is registered (its headers arrived).
	triggers []httpOp
	// interrupt: send Ctrl-C when the command polls again after the last
	// trigger, once its stdout contains waitOutput.
	interrupt  bool
	waitOutput string
}

type httpOp struct {
	method, path, form string
}

func put(path, form string) httpOp { return httpOp{http.MethodPut, path, form} }
func del(path string) httpOp       { return httpOp{http.MethodDelete, path, ""} }

var specs = []spec{
	// Keys, in the order the seeds use them.
	{name: "mk", args: "mk /svclocation 10.1.1.20:80"},
	{name: "mk_exists", args: "mk /svclocation 10.1.1.21:80"},
	{name: "get", args: "get /svclocation"},
	{name: "get_extended", args: "-o extended get /svclocation"},
	{name: "get_json", args: "-o json get /svclocation"},
	{name: "get_quorum_sort", args: "get --quorum --sort /svclocation"},
	{name: "get_missing", args: "get /_etcd"},
	{name: "get_missing_extended", args: "-o extended get /nope"},
	{name: "get_missing_json", args: "-o json get /nope"},
	{name: "get_no_key", args: "get"},
	{name: "mkdir", args: "mkdir /example"},
	{name: "mkdir_exists", args: "mkdir /example"},
	{name: "get_dir", args: "get /example"},
	{name: "get_root", args: "get /"},
	{name: "mk_into_dir", args: "mk /example/key data"},
	{name: "mk_stdin", args: "mk /stdin/key", stdin: "line1\nline2\n"},
	{name: "mk_no_value", args: "mk /stdin/none"},
	{name: "mk_ttl_extended", args: "-o extended mk /ttl/key v --ttl 50"},
	{name: "mk_in_order", args: "mk --in-order /queue job1"},
	{name: "mk_in_order_json", args: "-o json mk --in-order /queue job2"},
	{name: "update", args: "update /example/key turtles"},
	{name: "update_extended", args: "-o extended update /example/key turtles2"},
	{name: "update_json", args: "-o json update /example/key turtles3"},
	{name: "update_missing", args: "update /nope v"},
	{name: "update_stdin", args: "update /example/key", stdin: "from stdin"},
	{name: "mkdir_ttl", args: "mkdir /here/you/go --ttl 120"},
	{name: "mkdir_extended", args: "-o extended mkdir /mk/extended"},
	{name: "mkdir_json", args: "-o json mkdir /mk/json"},
	{name: "updatedir_ttl", args: "updatedir /here/you/go --ttl 500"},
	{name: "updatedir_extended", args: "-o extended updatedir /mk/extended --ttl 100"},
	{name: "updatedir_missing", args: "updatedir /nope --ttl 5"},
	{name: "set", args: "set /example/key new"},
	{name: "set_parents", args: "set /a/b/c here"},
	{name: "set_extended", args: "-o extended set /example/key newer"},
	{name: "set_json", args: "-o json set /example/key newest"},
	{name: "set_ttl_json", args: "-o json set --ttl 60 /ttl/json v"},
	{name: "set_swap_value_fail", args: "set --swap-with-value nope /example/key x"},
	{name: "set_swap_value", args: "set --swap-with-value newest /example/key swapped"},
	{name: "set_swap_index_fail", args: "set --swap-with-index 1 /example/key x"},
	{name: "set_dir", args: "set /example v"},
	{name: "set_under_key", args: "set /svclocation/x v"},
	{name: "set_empty", argv: []string{"set", "/empty", ""}},
	{name: "set_dash_value", argv: []string{"set", "--", "/temperature", "-5"}},
	{name: "set_html_json", argv: []string{"-o", "json", "set", "/html", "<a href=\"x\">&</a>"}},
	{name: "setdir", args: "setdir /x/y/z"},
	{name: "setdir_exists", args: "setdir /x/y/z"},
	{name: "setdir_json", args: "-o json setdir /x/y/w"},
	{name: "setdir_extended", args: "-o extended setdir /x/y/v"},

	// Listings. Unsorted listings come in etcd's map order, so only
	// sorted ones are recorded.
	{name: "", args: "set /_coreos.com/fleet/machines/1 m1"},
	{name: "ls_sort", args: "ls --sort /"},
	{name: "ls_default_key", args: "ls --sort"},
	// Not "ls --sort / --recursive": etcdctl's parser takes "/" for the
	// value of --sort there and ignores --recursive; arborctl does not.
	{name: "ls_recursive", args: "ls --sort --recursive /"},
	{name: "ls_recursive_after_key", args: "ls / --recursive --sort"},
	{name: "ls_recursive_p", args: "ls --sort -r -p /"},
	{name: "ls_hidden", args: "ls --sort --recursive /_coreos.com"},
	{name: "ls_missing", args: "ls --recursive /_etcd"},
	{name: "ls_key", args: "ls /svclocation"},
	{name: "ls_extended", args: "-o extended ls /example"},
	{name: "ls_json", args: "-o json ls --sort -r /a"},
	{name: "ls_json_key", args: "-o json ls /svclocation"},
	{name: "ls_quorum", args: "ls -q --sort /x/y"},

	// Removal.
	{name: "rm", args: "rm /a/b/c"},
	{name: "rm_dir", args: "rm /a"},
	{name: "rm_recursive", args: "rm /a --recursive"},
	{name: "", args: "set /r/b/c v"},
	{name: "rm_recursive_extended", args: "-o extended rm -r /r"},
	{name: "rm_extended", args: "-o extended rm /example/key"},
	{name: "rm_json", args: "-o json rm /ttl/json"},
	{name: "rm_missing", args: "rm /nope"},
	{name: "rm_with_value_fail", args: "rm --with-value nope /svclocation"},
	{name: "rm_with_index_fail", args: "rm --with-index 2 --with-value x /svclocation"},
	{name: "rm_root", args: "rm /"},
	{name: "rm_dir_flag", args: "rm --dir /x/y/z"},
	{name: "rmdir_nonempty", args: "rmdir /x"},
	{name: "rmdir", args: "rmdir /x/y/w"},
	{name: "rmdir_json", args: "-o json rmdir /x/y/v"},
	{name: "rmdir_key", args: "rmdir /empty"},
	{name: "rmdir_no_key", args: "rmdir"},

	// Watches.
	{name: "watch", args: "watch /example/hello",
		triggers: []httpOp{put("/example/hello", "value=world")}},
	{name: "watch_recursive", args: "watch --recursive /example",
		// The directory event is skipped: a second poll gets the key.
		triggers: []httpOp{put("/example/sub", "dir=true"), put("/example/sub/k", "value=v")}},
	{name: "watch_delete_extended", args: "-o extended watch /example/hello",
		triggers: []httpOp{del("/example/hello")}},
	{name: "watch_json", args: "-o json watch -r /example",
		triggers: []httpOp{put("/example/sub/k", "value=v2")}},
	{name: "watch_after_index", args: "watch --after-index 4 -r /"},
	{name: "watch_forever", args: "watch --forever -r /wf", interrupt: true,
		triggers: []httpOp{put("/wf/a", "value=1"), put("/wf/d", "dir=true"), del("/wf/a")}},
	{name: "watch_no_key", args: "watch"},
	{name: "exec_watch", argv: []string{"exec-watch", "--recursive", "/example", "--", "echo", "hello"},
		interrupt: true, waitOutput: "hello\n",
		triggers: []httpOp{put("/example/k3", "value=v3")}},
	// etcdctl 3.4 mangles its arguments unless a flag comes first (without
	// one it watches the last argument), and takes a flag of the command
	// ("sh -c ...") for its own even after "--"; arborctl does neither, but
	// only what etcdctl gets right can be recorded.
	{name: "exec_watch_env", argv: []string{"exec-watch", "-r", "/example/k3", "--", "printenv",
		"ETCD_WATCH_MODIFIED_INDEX", "ETCD_WATCH_ACTION", "ETCD_WATCH_KEY", "ETCD_WATCH_VALUE"},
		interrupt: true, waitOutput: "new\n",
		triggers: []httpOp{put("/example/k3", "value=new")}},
	{name: "exec_watch_no_command", args: "exec-watch /example"},

	// Cluster.
	{name: "cluster_health", args: "cluster-health"},
	{name: "member_list", args: "member list"},
	{name: "member_list_args", args: "member list extra"},

	// Global flags and failures.
	{name: "debug_get", args: "--debug get /svclocation"},
	{name: "debug_set_no_sync", argv: []string{"--no-sync", "--debug", "set", "--ttl", "100", "/dbg", "a b&c=d"}},
	{name: "debug_mkdir_no_sync", args: "--no-sync --debug mkdir /dbgdir"},
	{name: "debug_rm_no_sync", args: "--no-sync --debug rm --recursive /dbgdir"},
	{name: "debug_watch_no_sync", args: "--no-sync --debug watch --after-index 4 -r /"},
	{name: "debug_member_list", args: "--debug member list"},
	{name: "debug_cluster_health", args: "--debug cluster-health"},
	{name: "debug_escaped_key", argv: []string{"--no-sync", "--debug", "get", "/a b/ü?x"}},
	{name: "env_peers", args: "get /svclocation", noEndpoint: true,
		env: map[string]string{"ETCDCTL_PEERS": "{{ENDPOINT}}"}},
	{name: "env_endpoint_beats_peers_flag", args: "--peers {{DEAD}} get /svclocation", noEndpoint: true,
		env: map[string]string{"ETCDCTL_ENDPOINT": "{{ENDPOINT}}"}},
	{name: "unsupported_format", args: "-o yaml get /svclocation"},
	{name: "unsupported_format_mkdir", args: "-o yaml mkdir /yaml"},
	{name: "unknown_command", args: "frobnicate"},
	{name: "dead_endpoint", args: "--endpoints {{DEAD}} get /svclocation", noEndpoint: true},
	{name: "dead_endpoint_no_sync", args: "--no-sync --endpoints {{DEAD}} get /svclocation", noEndpoint: true},
	{name: "dead_endpoint_cluster_health", args: "--endpoints {{DEAD}} cluster-health", noEndpoint: true},
	{name: "dead_endpoint_member_list", args: "--no-sync --endpoints {{DEAD}} member list", noEndpoint: true},

	// Membership changes last: a second member that never starts costs the
	// cluster its quorum.
	{name: "member_add_no_args", args: "member add"},
	{name: "member_add_bad_url", args: "member add node2 127.0.0.1:44102"},
	{name: "member_add_url_path", args: "member add node2 http://127.0.0.1:44102/x"},
	{name: "member_remove_no_args", args: "member remove"},
	{name: "member_remove_unknown", args: "member remove 1234"},
	{name: "member_add", args: "--debug member add node2 http://127.0.0.1:44102"},
}

// recordGoldens runs every spec with etcdctl through a recording proxy in
// front of a fresh etcd and writes the golden files.
func recordGoldens(t *testing.T) {
	etcdURL := startEtcd(t, recordPort)
	p := &proxy{t: t, etcd: etcdURL}
	p.srv = httptest.NewServer(p)
	defer p.srv.Close()
	dead := freeDeadURL(t)
	for _, s := range specs {
		t.Logf("recording %s: %s%q", s.name, s.args, s.argv)
		g := p.record(s, dead)
		if s.name == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join("testdata", s.name+".golden"), g.encode(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// proxy forwards etcdctl's requests to etcd and records them.
type proxy struct {
	t    *testing.T
	etcd string
	srv  *httptest.Server

	mu        sync.Mutex // guards the fields below
	spec      spec
	polls     int
	exchanges []exchange
	// interrupted is closed when the command should get Ctrl-C.
	interrupted chan struct{}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wait := r.URL.Query().Get("wait") == "true"
	p.mu.Lock()
	s := p.spec
	poll := 0
	if wait {
		p.polls++
		poll = p.polls
	}
	interrupted := p.interrupted
	p.mu.Unlock()

	if wait && s.interrupt && poll > len(s.triggers) {
		select {
		case <-interrupted:
		default:
			close(interrupted)
		}
		<-r.Context().Done()
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.etcd+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		p.t.Errorf("proxy: %v", err)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		p.t.Errorf("proxy: %v", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if wait && poll <= len(s.triggers) {
		// Headers come once etcd has registered the watch.
		p.do(s.triggers[poll-1])
	}
	respBody, _ := io.ReadAll(resp.Body)
	// Members advertise etcd's own URL; make clients come back here.
	respBody = bytes.ReplaceAll(respBody, []byte(p.etcd), []byte(p.srv.URL))

	e := exchange{Method: r.Method, URI: r.URL.RequestURI(), Body: string(body), Status: resp.StatusCode,
		Header: map[string]string{}, Response: strings.ReplaceAll(string(respBody), p.srv.URL, "{{ENDPOINT}}")}
	for _, h := range recordedHeaders {
		if v := resp.Header.Get(h); v != "" {
			e.Header[h] = v
			w.Header().Set(h, v)
		}
	}
	p.mu.Lock()
	p.exchanges = append(p.exchanges, e)
	p.mu.Unlock()
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
}

// do makes a trigger write directly to etcd.
func (p *proxy) do(op httpOp) {
	req, err := http.NewRequest(op.method, p.etcd+"/v2/keys"+op.path, strings.NewReader(op.form))
	if err != nil {
		p.t.Errorf("trigger: %v", err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Errorf("trigger %v: %v", op, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		p.t.Errorf("trigger %v: HTTP %d", op, resp.StatusCode)
	}
}

// record runs one spec with etcdctl and returns what happened, in
// placeholder form.
func (p *proxy) record(s spec, dead string) *golden {
	t := p.t
	argv := s.argv
	if argv == nil {
		argv = strings.Fields(s.args)
	}
	if !s.noEndpoint {
		argv = append([]string{"--endpoints", "{{ENDPOINT}}"}, argv...)
	}
	p.mu.Lock()
	p.spec, p.polls, p.exchanges = s, 0, nil
	p.interrupted = make(chan struct{})
	interrupted := p.interrupted
	p.mu.Unlock()

	fill := strings.NewReplacer("{{ENDPOINT}}", p.srv.URL, "{{DEAD}}", dead)
	unfill := strings.NewReplacer(
		p.srv.URL, "{{ENDPOINT}}", strings.TrimPrefix(p.srv.URL, "http://"), "{{ADDR}}",
		dead, "{{DEAD}}", strings.TrimPrefix(dead, "http://"), "{{DEADADDR}}",
	)
	filled := make([]string, len(argv))
	for i, a := range argv {
		filled[i] = fill.Replace(a)
	}
	cmd := exec.Command(etcdctlBin, filled...)
	cmd.Env = []string{"ETCDCTL_API=2", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+fill.Replace(v))
	}
	cmd.Stdin = strings.NewReader(s.stdin)
	var stdout, stderr testutil.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	testutil.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-interrupted:
		case <-done:
			return
		}
		// etcdctl runs exec-watch's command in the background: let its
		// output arrive before stopping it.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stdout.String(), s.waitOutput) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
	}()
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	close(done)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() < 0 {
			t.Fatalf("%s: etcdctl %q: %v\nstdout: %s\nstderr: %s", s.name, filled, err, stdout.String(), stderr.String())
		}
		code = ee.ExitCode()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	if len(env) == 0 {
		env = nil
	}
	return &golden{
		Case:      goldenCase{Args: argv, Stdin: s.stdin, Env: env, Interrupt: s.interrupt},
		Exchanges: p.exchanges,
		Stdout:    unfill.Replace(stdout.String()),
		Stderr:    unfill.Replace(stderr.String()),
		Exit:      code,
	}
}
