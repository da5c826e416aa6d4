package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/client"
	"github.com/arbor-kv/arbor/internal/testutil"
)

// etcdBin is the reference implementation (Debian's etcd-server, 3.4).
const etcdBin = "/usr/bin/etcd"

// startEtcd runs a single-member etcd with the v2 API on two free
// loopback ports until the test ends and returns its client URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(etcdBin); err != nil {
		t.Skipf("%s not installed (Debian package etcd-server; `make deps`): this test uses a real etcd as the discovery service", etcdBin)
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
	logs := &testutil.Buffer{}
	cmd := exec.Command(etcdBin, "--enable-v2=true", "--name", "disco", "--data-dir", t.TempDir(),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "disco="+peerURL, "--initial-cluster-token", "discovery-test")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("etcd log:\n%s", logs.String())
		}
	})
	// Poll: another process's readiness sends no notification.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(clientURL + "/v2/keys/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return clientURL
			}
		}
		select {
		case <-exited:
			t.Fatalf("etcd exited:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not answer within 30s:\n%s", logs.String())
		}
	}
}

// etcd 3.4 as the discovery service: a token made by NewHandler over
// etcd's keys API forms a cluster of three, refuses a fourth, and holds
// the registrations in etcd 2's format.
func TestJoinAgainstEtcd(t *testing.T) {
	base := startEtcd(t)
	tokenURL := newTokenFrom(t, base, "3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := foundThree(ctx, t, tokenURL)

	_, err := Join(ctx, member(t, tokenURL, 4))
	var used *UsedTokenError
	if !errors.As(err, &used) || !slices.Equal(ids(used.Members), ids(results[0].Members)) {
		t.Fatalf("fourth member: %v, want a refusal naming the founders", err)
	}

	key := tokenURL[len(base+"/v2/keys"):]
	c := keysClient(t, base)
	resp, err := c.Get(ctx, key+"/a2", client.GetOptions{})
	if err != nil || resp.Node.Value != "m2=http://127.0.0.1:17002" {
		t.Errorf("registration of m2 in etcd: %v, %v", resp, err)
	}
	if got := registrations(t, c, key); !slices.Equal(got, []string{"a1", "a2", "a3"}) {
		t.Errorf("registry in etcd: %v", got)
	}
}
