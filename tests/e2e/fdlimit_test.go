package e2e

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A member that runs out of file descriptors because too many clients
// connect keeps serving once they leave, instead of closing its client
// port or exiting ("accept4: too many open files" used to stop it).
func TestOutOfFileDescriptorsKeepsServing(t *testing.T) {
	m := newMember(t)
	// The limit is set in the shell, soft and hard, so the Go runtime
	// cannot raise it; arbor itself needs about 20 descriptors.
	m.wrapper = []string{"sh", "-c", `ulimit -n 64 && exec "$@"`, "sh"}
	m.start()
	defer m.kill()
	if r := m.mustDo("PUT", "/before", url.Values{"value": {"1"}}); r.Status != http.StatusCreated {
		t.Fatalf("PUT before: %d %s", r.Status, r.Raw)
	}

	addr := strings.TrimPrefix(m.url, "http://")
	var conns []net.Conn
	for i := 0; i < 100; i++ {
		// The kernel completes the handshake from its backlog even when
		// arbor cannot accept, so every dial succeeds.
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	// Give the accept loop time to hit the limit and retry a few times.
	time.Sleep(300 * time.Millisecond)
	select {
	case <-m.proc.Exited():
		t.Fatalf("arbor exited with its descriptors used up: %v\n%s", m.proc.Err(), m.proc.Logs)
	default:
	}
	if len(conns) < 64 {
		t.Fatalf("only %d connections: the descriptor limit was never reached", len(conns))
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
