package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// The reference implementation: etcd 3.4 with its v2 API enabled and
// etcdctl in v2 mode. Tests that need them skip, saying why, when they are
// not installed.
const (
	etcdBin    = "/usr/bin/etcd"
	etcdctlBin = "/usr/bin/etcdctl"
)

func requireEtcd(t *testing.T) {
	t.Helper()
	for _, bin := range []string{etcdBin, etcdctlBin} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s not installed (Debian packages etcd-server, etcd-client; `make deps`): this test compares arborctl with etcdctl against a real etcd", bin)
		}
	}
}

// startEtcd runs a fresh single-member etcd on 127.0.0.1 (client port
// clientPort, peer port clientPort+1; with clientPort 0, two free ports)
// until the test ends, and returns its client URL once it answers.
func startEtcd(t *testing.T, clientPort int) string {
	t.Helper()
	requireEtcd(t)
	peerPort := clientPort + 1
	if clientPort == 0 {
		clientPort, peerPort = testutil.FreePort(t), testutil.FreePort(t)
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	for _, u := range []string{clientURL, peerURL} {
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "http://"), time.Second); err == nil {
			c.Close()
			t.Fatalf("%s is already in use; is an earlier test's etcd still running?", u)
		}
	}
	var logs testutil.Buffer
	cmd := exec.Command(etcdBin,
		"--enable-v2=true",
		"--name", "ref",
		"--data-dir", t.TempDir(),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "ref="+peerURL,
		"--initial-cluster-token", "arborctl-test",
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("etcd log:\n%s", logs.String())
		}
	})
	// Wait for it to answer, polling: there is nothing to be notified by.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/v2/keys/", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
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

// freeDeadURL returns a URL nothing listens on.
func freeDeadURL(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
}
