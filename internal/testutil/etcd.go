package testutil

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// EtcdBin is the reference implementation: Debian's etcd-server (3.4).
const EtcdBin = "/usr/bin/etcd"

// EtcdMember names a single-member etcd: its name and cluster token fix
// its member and cluster IDs, which recorded outputs may show.
type EtcdMember struct{ Name, Token string }

// StartEtcd runs a fresh single-member etcd with the v2 API on
// 127.0.0.1:clientPort and :peerPort until the test ends, and returns its
// client URL once it answers. It skips the test when etcd is not
// installed, saying why (why: what the test uses etcd for).
func StartEtcd(t testing.TB, m EtcdMember, clientPort, peerPort int, why string) string {
	t.Helper()
	if _, err := os.Stat(EtcdBin); err != nil {
		t.Skipf("%s not installed (Debian package etcd-server; `make deps`): %s", EtcdBin, why)
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p, err := StartProc(t, exec.Command(EtcdBin, "--enable-v2=true", "--name", m.Name, "--data-dir", t.TempDir(),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", m.Name+"="+peerURL, "--initial-cluster-token", m.Token))
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("etcd log:\n%s", p.Logs.String())
		}
	})
	Eventually(t, 30*time.Second, "etcd answers", func() error {
		select {
		case <-p.Exited():
			t.Fatalf("etcd exited: %v\n%s", p.Err(), p.Logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/v2/keys/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/keys/: %d", resp.StatusCode)
		}
		return nil
	})
	return clientURL
}
