package main

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// The reference implementation: etcd 3.4 with its v2 API enabled and
// etcdctl in v2 mode. Tests that need them skip, saying why, when they are
// not installed.
const (
	etcdBin    = testutil.EtcdBin
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
	for _, port := range []int{clientPort, peerPort} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Fatalf("port %d is already in use; is an earlier test's etcd still running?", port)
		}
	}
	return testutil.StartEtcd(t, testutil.EtcdMember{Name: "ref", Token: "arborctl-test"}, clientPort, peerPort, "this test compares with a real etcd")
}

// freeDeadURL returns a URL nothing listens on.
func freeDeadURL(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
}
