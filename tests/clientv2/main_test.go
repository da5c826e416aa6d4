package clientv2

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	etcdclient "go.etcd.io/etcd/client/v2"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// arborBin is the server TestMain built for every test.
var arborBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "arbor-clientv2-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	arborBin, err = testutil.BuildArbor(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// memberName is the name each test's arbor runs under.
const memberName = "clientv2"

// startArbor starts a fresh arbor for one test and returns it with an
// official client pointed at it.
func startArbor(t *testing.T) (*testutil.Arbor, etcdclient.Client) {
	t.Helper()
	s := testutil.StartArbor(t, arborBin, memberName)
	c, err := etcdclient.New(etcdclient.Config{
		Endpoints:               []string{s.URL},
		Transport:               etcdclient.DefaultTransport,
		HeaderTimeoutPerRequest: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// testContext bounds one test's requests, so that a server that stops
// answering fails the test instead of hanging it.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode requires err to be the etcd error with the given code.
func wantCode(t *testing.T, what string, err error, code int) etcdclient.Error {
	t.Helper()
	e, ok := err.(etcdclient.Error)
	if !ok {
		t.Fatalf("%s: got %v (%T), want etcd error %d", what, err, err, code)
	}
	if e.Code != code {
		t.Fatalf("%s: error %v, want code %d", what, e, code)
	}
	return e
}
