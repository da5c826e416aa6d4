package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// TestMain lets the test binary stand in for the arborctl binary, so that
// process-level tests (signals, stdin, exit codes) run the real main.
func TestMain(m *testing.M) {
	if os.Getenv("ARBORCTL_TEST_BE_MAIN") == "1" {
		main()
		return
	}
	if testing.CoverMode() != "" {
		// A binary built with -cover warns on stderr when it exits without
		// GOCOVERDIR, which the tests comparing stderr would see.
		dir, err := os.MkdirTemp("", "arborctl-cover")
		if err != nil {
			panic(err)
		}
		coverDir = dir
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// coverDir receives the coverage data of the test binary's runs as
// arborctl when the tests run with -cover.
var coverDir string

// beMainEnv is the environment that makes this test binary run as arborctl,
// plus extra.
func beMainEnv(extra ...string) []string {
	env := []string{"ARBORCTL_TEST_BE_MAIN=1"}
	if coverDir != "" {
		env = append(env, "GOCOVERDIR="+coverDir)
	}
	return append(env, extra...)
}

// seedStep is one etcdctl command from the seed articles.
type seedStep struct {
	args []string
	// unordered: etcd lists a directory's children in no fixed order, so
	// compare the lines as a set.
	unordered bool
	// trigger, for watches: writes made once the watch is registered.
	trigger []httpOp
	// interrupt: Ctrl-C once stdout contains waitOutput (exec-watch).
	interrupt  bool
	waitOutput string
}

func seedArgs(s string) []string { return strings.Fields(s) }

// seedSteps are the etcdctl commands of the seeds (S1 "CoreOS Continued:
// etcd", S2 "How To Use Etcdctl and Etcd"), in their order, with the setup
// their outputs assume (the /coreos.com and /_coreos.com trees CoreOS
// had).
var seedSteps = []seedStep{
	// S1, with the URL etcdctl 3.4 needs (arborctl also takes the bare
	// host:port; see TestPeersWithoutScheme).
	{args: seedArgs("--peers {{ENDPOINT}} ls / --recursive"), unordered: true},
	{args: seedArgs("--peers {{ENDPOINT}} mk /svclocation 10.1.1.20:80")},
	{args: seedArgs("--peers {{ENDPOINT}} get /svclocation")},
	// S2.
	{args: seedArgs("ls /_etcd/machines --recursive")},
	{args: seedArgs("get /_etcd/machines/2ddbdb7c872b4bc59dd1969ac166501e")},
	{args: []string{"set", "/coreos.com/updateengine/rebootlock/semaphore", `{"semaphore":1,"max":1,"holders":null}`}},
	{args: seedArgs("ls /"), unordered: true},
	{args: seedArgs("get /coreos.com")},
	{args: seedArgs("ls / --recursive"), unordered: true},
	{args: seedArgs("get /coreos.com/updateengine/rebootlock/semaphore")},
	{args: seedArgs("-o extended get /coreos.com/updateengine/rebootlock/semaphore")},
	{args: seedArgs("mkdir /example")},
	{args: seedArgs("mk /example/key data")},
	{args: seedArgs("mk /example/key data")},
	{args: seedArgs("get /example/key")},
	{args: seedArgs("update /example/key turtles")},
	{args: seedArgs("mkdir /here/you/go --ttl 120")},
	{args: seedArgs("updatedir /here/you/go --ttl 500")},
	{args: seedArgs("set /example/key new")},
	{args: seedArgs("set /a/b/c here")},
	{args: seedArgs("setdir /x/y/z")},
	{args: seedArgs("setdir /x/y/z")},
	{args: seedArgs("rm /a/b/c")},
	{args: seedArgs("rm /a --recursive")},
	{args: seedArgs("rmdir /x/y/z")},
	{args: seedArgs("rmdir /x")},
	{args: seedArgs("watch /example/hello"), trigger: []httpOp{put("/example/hello", "value=world")}},
	{args: seedArgs("watch --recursive /example"), trigger: []httpOp{put("/example/key", "value=changed")}},
	{args: seedArgs("exec-watch --recursive /example -- echo hello"), trigger: []httpOp{put("/example/key", "value=again")},
		interrupt: true, waitOutput: "hello\n"},
	{args: []string{"set", "/_coreos.com/fleet/machines/2ddbdb7c872b4bc59dd1969ac166501e/object", `{"ID":"2ddbdb7c"}`}},
	{args: seedArgs("ls --recursive /_coreos.com"), unordered: true},
	{args: seedArgs("ls --recursive /_etcd")},
	{args: seedArgs("ls /_etcd --recursive")},
	{args: seedArgs("ls /"), unordered: true},
	{args: seedArgs("-o extended get /example/hello")},
	{args: seedArgs("-o json get /example/key")},
}

// seedResult is what one command did.
type seedResult struct {
	stdout, stderr string
	exit           int
}

// seedTool is a command line client the seed sequence runs with.
type seedTool struct {
	name string
	argv []string
	// env is added to the minimal environment each command gets.
	env []string
}

var etcdctlTool = seedTool{"etcdctl", []string{etcdctlBin}, []string{"ETCDCTL_API=2"}}

// arborctlTool is this test binary acting as arborctl (see TestMain).
func arborctlTool(t *testing.T) seedTool {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return seedTool{"arborctl", []string{self}, beMainEnv()}
}

// TestSeedsAgainstEtcdctl runs the seeds' command sequence with
// ETCDCTL_API=2 etcdctl and with arborctl against one real etcd (wiping
// the tree in between) and requires the same stdout, stderr and exit
// status for every command. Indexes are compared relative to the store's
// index when each run starts, since the second run starts later.
func TestSeedsAgainstEtcdctl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	etcdURL := startEtcd(t, 0)
	want := runSeeds(t, etcdURL, etcdctlTool)
	checkSeedReference(t, want)
	got := runSeeds(t, etcdURL, arborctlTool(t))
	compareSeedRuns(t, [2]string{"etcdctl", "arborctl"}, want, got)
}

// runSeeds wipes the tree of the server at serverURL, then runs every seed
// step with tool against it. Indexes in the output become relative to the
// store's index before the first step, and the lines of unordered
// listings are sorted.
func runSeeds(t *testing.T, serverURL string, tool seedTool) []seedResult {
	t.Helper()
	wipe(t, serverURL)
	base := storeIndex(t, serverURL)
	var results []seedResult
	for _, step := range seedSteps {
		args := make([]string, len(step.args))
		for j, a := range step.args {
			args[j] = strings.ReplaceAll(a, "{{ENDPOINT}}", serverURL)
		}
		env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ETCDCTL_ENDPOINTS=" + serverURL}, tool.env...)
		r := runSeedStep(t, serverURL, append(tool.argv, args...), env, step)
		r.stdout = relativeIndexes(r.stdout, base)
		r.stderr = relativeIndexes(r.stderr, base)
		if step.unordered {
			r.stdout = sortedLines(r.stdout)
		}
		results = append(results, r)
	}
	return results
}

// checkSeedReference requires the reference run (etcdctl against etcd)
// to have done what the seeds say, or a comparison with it proves nothing
// (both sides failing alike, say).
func checkSeedReference(t *testing.T, ref []seedResult) {
	t.Helper()
	spot := map[string]seedResult{
		"--peers {{ENDPOINT}} get /svclocation":             {stdout: "10.1.1.20:80\n"},
		"get /coreos.com":                                   {stderr: "/coreos.com: is a directory\n", exit: 1},
		"get /coreos.com/updateengine/rebootlock/semaphore": {stdout: `{"semaphore":1,"max":1,"holders":null}` + "\n"},
		"exec-watch --recursive /example -- echo hello":     {stdout: "hello\n"},
		"watch /example/hello":                              {stdout: "world\n"},
	}
	for i, step := range seedSteps {
		if want, ok := spot[strings.Join(step.args, " ")]; ok && ref[i] != want {
			t.Errorf("reference %s: %+v, want %+v", strings.Join(step.args, " "), ref[i], want)
		}
	}
	if r := ref[len(seedSteps)-4]; !strings.HasPrefix(r.stderr, "Error:  100: Key not found (/_etcd) [base+") || r.exit != 4 {
		t.Errorf("reference ls --recursive /_etcd: %+v", r)
	}
}

// compareSeedRuns requires got to match want step by step; names say
// which run is which in the failure messages.
func compareSeedRuns(t *testing.T, names [2]string, want, got []seedResult) {
	t.Helper()
	for i, step := range seedSteps {
		if got[i] != want[i] {
			t.Errorf("%s:\n  %-9s exit %d, stdout %q, stderr %q\n  %-9s exit %d, stdout %q, stderr %q",
				strings.Join(step.args, " "), names[0]+":", want[i].exit, want[i].stdout, want[i].stderr,
				names[1]+":", got[i].exit, got[i].stdout, got[i].stderr)
		}
	}
}

// runSeedStep runs one command to completion, making its trigger writes
// once its watch is registered and interrupting it if asked.
func runSeedStep(t *testing.T, etcdURL string, argv, env []string, step seedStep) seedResult {
	t.Helper()
	watchers := 0
	if step.trigger != nil {
		watchers = storeWatchers(t, etcdURL)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr testutil.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	testutil.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if step.trigger != nil {
		waitFor(t, "the watch to be registered", func() bool { return storeWatchers(t, etcdURL) > watchers })
		for _, op := range step.trigger {
			writeDirect(t, etcdURL, op)
		}
	}
	if step.interrupt {
		waitFor(t, fmt.Sprintf("%q on stdout", step.waitOutput), func() bool { return strings.Contains(stdout.String(), step.waitOutput) })
		cmd.Process.Signal(os.Interrupt)
	}
	err := cmd.Wait()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() < 0 {
			t.Fatalf("%q: %v\nstdout: %s\nstderr: %s", argv, err, stdout.String(), stderr.String())
		}
		code = ee.ExitCode()
	}
	return seedResult{stdout: stdout.String(), stderr: stderr.String(), exit: code}
}

// waitFor polls cond: there is no event to wait on for another process's
// progress.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wipe deletes every top-level key, hidden ones included.
func wipe(t *testing.T, etcdURL string) {
	t.Helper()
	var out struct {
		Node struct {
			Nodes []struct {
				Key string `json:"key"`
			} `json:"nodes"`
		} `json:"node"`
	}
	getJSON(t, etcdURL+"/v2/keys/", &out)
	keys := []string{"/_coreos.com", "/_etcd"}
	for _, n := range out.Node.Nodes {
		keys = append(keys, n.Key)
	}
	for _, k := range keys {
		req, _ := http.NewRequest(http.MethodDelete, etcdURL+"/v2/keys"+k+"?recursive=true", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

func storeIndex(t *testing.T, etcdURL string) uint64 {
	t.Helper()
	resp, err := http.Get(etcdURL + "/v2/keys/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	n, err := strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	if err != nil {
		t.Fatalf("X-Etcd-Index: %v", err)
	}
	return n
}

func storeWatchers(t *testing.T, etcdURL string) int {
	var st struct {
		Watchers int `json:"watchers"`
	}
	getJSON(t, etcdURL+"/v2/stats/store", &st)
	return st.Watchers
}

func getJSON(t *testing.T, u string, v any) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", u, err, b)
	}
}

func writeDirect(t *testing.T, etcdURL string, op httpOp) {
	req, _ := http.NewRequest(op.method, etcdURL+"/v2/keys"+op.path, strings.NewReader(op.form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

var indexPatterns = []*regexp.Regexp{
	regexp.MustCompile(`((?:Created-Index|Modified-Index|Index): )(\d+)`),
	regexp.MustCompile(`("(?:createdIndex|modifiedIndex)":)(\d+)`),
	regexp.MustCompile(`( \[)(\d+)(\]\n)`),
}

// relativeIndexes rewrites store indexes in s as offsets from base.
func relativeIndexes(s string, base uint64) string {
	for _, re := range indexPatterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			n, _ := strconv.ParseUint(sub[2], 10, 64)
			rest := ""
			if len(sub) > 3 {
				rest = sub[3]
			}
			return fmt.Sprintf("%sbase+%d%s", sub[1], int64(n)-int64(base), rest)
		})
	}
	return s
}

func sortedLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "")
}
