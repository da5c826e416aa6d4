package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BuildArbor compiles the server (cmd/arbor) into dir and returns the
// binary's path. Tests that talk to arbor from outside, as another
// program would, run this binary rather than an in-process server.
func BuildArbor(dir string) (string, error) {
	bin := filepath.Join(dir, "arbor")
	build := exec.Command("go", "build", "-o", bin, "github.com/arbor-kv/arbor/cmd/arbor")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build arbor: %v\n%s", err, out)
	}
	return bin, nil
}

// Arbor is a single-member arbor server a test started.
type Arbor struct {
	*Proc
	// URL is the client URL, e.g. http://127.0.0.1:41234.
	URL string
}

// StartArbor runs bin as a fresh single member named name, on two free
// loopback ports with a data dir under t.TempDir(), plus any extra flags.
// It returns once the member is healthy and publishes its client URL in
// /v2/members (what etcdctl and the official client sync from), and kills
// the process (by its PID) when the test ends.
func StartArbor(t testing.TB, bin, name string, extra ...string) *Arbor {
	t.Helper()
	clientAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	peerAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	args := append([]string{"-name", name, "-data-dir", filepath.Join(t.TempDir(), name),
		"-addr", clientAddr, "-peer-addr", peerAddr}, extra...)
	p, err := StartProc(t, exec.Command(bin, args...))
	if err != nil {
		t.Fatalf("start arbor: %v", err)
	}
	s := &Arbor{Proc: p, URL: "http://" + clientAddr}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("arbor log:\n%s", s.Logs.String())
		}
	})
	// Poll: another process's readiness sends no notification.
	deadline := time.Now().Add(30 * time.Second)
	for !s.ready() {
		select {
		case <-s.Exited():
			t.Fatalf("arbor exited during start: %v\n%s", s.Err(), s.Logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("arbor did not become ready within 30s\n%s", s.Logs.String())
		}
	}
	return s
}

func (s *Arbor) ready() bool {
	var health struct {
		Health string `json:"health"`
	}
	if !getJSON(s.URL+"/health", &health) || health.Health != "true" {
		return false
	}
	var members struct {
		Members []struct {
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	return getJSON(s.URL+"/v2/members", &members) && len(members.Members) == 1 && len(members.Members[0].ClientURLs) > 0
}

func getJSON(url string, v any) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK && json.Unmarshal(b, v) == nil
}
