package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// More connections than the open-file limit allows, on the client port and
// on the peer port, neither stop a member ("accept4: too many open files"
// used to end it) nor starve it of the descriptors it needs itself: the
// ports' connections are capped below the limit (here 200: 84 clients, 16
// on the peer port), writes on open connections go on and take snapshots,
// and new connections are served on both once the crowds leave.
func TestOutOfFileDescriptorsKeepsServing(t *testing.T) {
	// The connections past the cap wait in the listen backlog.
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n < 256 {
			t.Skipf("net.core.somaxconn is %d: too small a listen backlog for 250 connections", n)
		}
	}
	m := newMember(t, "-snapshot-count", "100")
	// The limit is set in the shell, soft and hard, so the Go runtime
	// cannot raise it.
	m.wrapper = []string{"sh", "-c", `ulimit -n 200 && exec "$@"`, "sh"}
	m.start()
	defer m.kill()
	if r := m.mustDo("PUT", "/before", url.Values{"value": {"1"}}); r.Status != http.StatusCreated {
		t.Fatalf("PUT before: %d %s", r.Status, r.Raw)
	}

	var conns []net.Conn
	for _, u := range []string{m.url, m.peerURL} {
		addr := strings.TrimPrefix(u, "http://")
		for i := 0; i < 250; i++ {
			// The kernel completes the handshake from its backlog even
			// when arbor cannot accept, so every dial succeeds.
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("connection %d to %s: %v", i, u, err)
			}
			conns = append(conns, c)
		}
	}
	// Give the accept loop time to hit the limit and retry a few times.
	time.Sleep(300 * time.Millisecond)
	select {
	case <-m.proc.Exited():
		t.Fatalf("arbor exited with its descriptors used up: %v\n%s", m.proc.Err(), m.proc.Logs)
	default:
	}
	// The shared client's kept-alive connection was accepted before.
	for i := 0; i < 250; i++ {
		if r := m.mustDo("PUT", fmt.Sprintf("/during/%d", i), url.Values{"value": {"x"}}); r.Status != http.StatusCreated {
			t.Fatalf("PUT during the crowd: %d %s", r.Status, r.Raw)
		}
	}
	snaps, _ := filepath.Glob(filepath.Join(m.dataDir, "snap", "*.snap"))
	if len(snaps) == 0 || strings.Contains(m.proc.Logs.String(), "snapshot failed") {
		t.Fatalf("no snapshot taken during the crowd (%d files)\n%s", len(snaps), m.proc.Logs)
	}
	for _, c := range conns {
		c.Close()
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-m.proc.Exited():
			t.Fatalf("arbor exited after its descriptors ran out: %v\n%s", m.proc.Err(), m.proc.Logs)
		default:
		}
		status, err := putOnNewConnection(m.url+"/v2/keys/after", "value=2")
		if err == nil && status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write served on a new connection within 10 s after the clients left: %d %v\n%s", status, err, m.proc.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(m.peerURL + "/v2/admin/config")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("peer port after the crowd left: %v %v", resp, err)
	}
	resp.Body.Close()
	if r := m.mustDo("GET", "/before", nil); r.Status != http.StatusOK || !strings.Contains(r.Raw, `"value":"1"`) {
		t.Fatalf("GET before: %d %s", r.Status, r.Raw)
	}
}

// putOnNewConnection PUTs form to u over a connection of its own: the
// shared client's kept-alive ones were accepted before the limit was hit.
func putOnNewConnection(u, form string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest("PUT", u, strings.NewReader(form))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
