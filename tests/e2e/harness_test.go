package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

var arborBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "arbor-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	arborBin = filepath.Join(dir, "arbor")
	build := exec.Command("go", "build", "-o", arborBin, "github.com/arbor-kv/arbor/cmd/arbor")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build arbor:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// member is one arbor process under test.
type member struct {
	t       *testing.T
	dataDir string
	args    []string
	url     string // client URL
	peerURL string
	proc    *testutil.Proc // the latest process started, nil before
	// wrapper, if set, runs the binary: wrapper..., arbor, args...
	wrapper []string
}

// newMember prepares a member with its own data dir and ports.
func newMember(t *testing.T, extra ...string) *member {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	cport, pport := testutil.FreePort(t), testutil.FreePort(t)
	m := &member{t: t, dataDir: dataDir, url: fmt.Sprintf("http://127.0.0.1:%d", cport),
		peerURL: fmt.Sprintf("http://127.0.0.1:%d", pport)}
	m.args = append([]string{"-name", "e2e", "-data-dir", dataDir,
		"-addr", fmt.Sprintf("127.0.0.1:%d", cport), "-peer-addr", fmt.Sprintf("127.0.0.1:%d", pport)}, extra...)
	return m
}

// start launches the process and waits until it answers /health.
func (m *member) start() {
	m.t.Helper()
	if err := m.launch(); err != nil {
		m.t.Fatal(err)
	}
	m.waitHealthy(20 * time.Second)
}

// waitHealthy waits until a launched member answers /health with true (it
// has a leader), failing the test if it exits first.
func (m *member) waitHealthy(within time.Duration) {
	m.t.Helper()
	testutil.Eventually(m.t, within, "health of "+m.url, func() error {
		select {
		case <-m.proc.Exited():
			m.t.Fatalf("arbor exited: %v\n%s", m.proc.Err(), m.proc.Logs)
		default:
		}
		code, body, err := m.getText("/health")
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.Contains(body, `"true"`) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
}

func (m *member) launch() error {
	argv := append(append(append([]string(nil), m.wrapper...), arborBin), m.args...)
	p, err := testutil.StartProc(m.t, exec.Command(argv[0], argv[1:]...))
	if err != nil {
		return err
	}
	m.proc = p
	return nil
}

// runToExit runs the binary with the member's args and expects it to exit
// by itself (e.g. refusing to start); it returns the exit error and output.
func (m *member) runToExit(timeout time.Duration) (error, string) {
	m.t.Helper()
	if err := m.launch(); err != nil {
		m.t.Fatal(err)
	}
	select {
	case <-m.proc.Exited():
		return m.proc.Err(), m.proc.Logs.String()
	case <-time.After(timeout):
		m.kill()
		m.t.Fatalf("arbor did not exit within %v\n%s", timeout, m.proc.Logs)
		return nil, ""
	}
}

// kill sends SIGKILL to the process this test started and waits for it.
func (m *member) kill() {
	if m.proc != nil {
		m.proc.Kill()
	}
}

// stop asks the process to shut down cleanly and waits.
func (m *member) stop() {
	m.t.Helper()
	m.proc.Stop(m.t, 15*time.Second)
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// response is a decoded v2 answer.
type response struct {
	Status    int
	EtcdIndex string
	Body      map[string]any
	Raw       string
}

func (m *member) do(ctx context.Context, method, key string, form url.Values) (*response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, m.url+"/v2/keys"+key, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &response{Status: resp.StatusCode, EtcdIndex: resp.Header.Get("X-Etcd-Index"), Raw: string(raw)}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		return nil, fmt.Errorf("%s %s: bad JSON %q: %w", method, key, raw, err)
	}
	return r, nil
}

func (m *member) mustDo(method, key string, form url.Values) *response {
	m.t.Helper()
	r, err := m.do(context.Background(), method, key, form)
	if err != nil {
		m.t.Fatal(err)
	}
	return r
}

func nodeOf(r *response) map[string]any {
	n, _ := r.Body["node"].(map[string]any)
	return n
}

var (
	ttlField = regexp.MustCompile(`,"ttl":\d+`)
	expField = regexp.MustCompile(`,"expiration":"[^"]*"`)
)
