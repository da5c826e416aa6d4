package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/client"
	"github.com/arbor-kv/arbor/internal/testutil"
)

// binDir holds the arbor binary, built once for the package's tests.
var (
	binDir    string
	buildOnce sync.Once
	arborBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "discovery-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startService runs a single-member arbor as the discovery service and
// returns its client URL.
func startService(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() { arborBin, buildErr = testutil.BuildArbor(binDir) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return testutil.StartArbor(t, arborBin, "discovery").URL
}

// keysClient talks to the discovery service directly, as an operator or
// a competing member would.
func keysClient(t *testing.T, base string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{base}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// makeToken creates a token directory by hand (size 0: none, etcd 0.4
// style) and returns its key and URL.
func makeToken(t *testing.T, base, name string, size int) (key, tokenURL string) {
	t.Helper()
	key = RegistryDir + "/" + name
	if size > 0 {
		_, err := keysClient(t, base).Create(context.Background(), key+"/_config/size", fmt.Sprint(size))
		var e *client.Error
		if errors.As(err, &e) && e.Code == 106 {
			t.Fatalf("the discovery service refuses client writes under %s (%v): members register there with plain v2 PUTs, as etcd's discovery protocol does", RegistryDir, err)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return key, base + "/v2/keys" + key
}

// member returns the Config of test member i (IDs 0xa1, 0xa2, ...).
func member(t *testing.T, tokenURL string, i int) Config {
	return Config{
		URL:            tokenURL,
		ID:             uint64(0xa0 + i),
		Name:           fmt.Sprintf("m%d", i),
		PeerURLs:       []string{fmt.Sprintf("http://127.0.0.1:%d", 17000+i)},
		Logger:         slog.New(slog.NewTextHandler(t.Output(), nil)),
		RequestTimeout: 5 * time.Second,
		RetryInitial:   10 * time.Millisecond,
		RetryMax:       200 * time.Millisecond,
	}
}

type outcome struct {
	res Result
	err error
}

// joinAsync runs Join on a goroutine; the channel gets its outcome.
func joinAsync(ctx context.Context, cfg Config) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, err := Join(ctx, cfg)
		ch <- outcome{res, err}
	}()
	return ch
}

// mustJoin runs Join and fails the test on an error.
func mustJoin(t *testing.T, cfg Config) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Join(ctx, cfg)
	if err != nil {
		t.Fatalf("Join(%s): %v", cfg.Name, err)
	}
	return res
}

// registrations lists the member keys under the token, as a client sees
// them.
func registrations(t *testing.T, c *client.Client, key string) []string {
	t.Helper()
	resp, err := c.Get(context.Background(), key, client.GetOptions{Sorted: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range resp.Node.Nodes {
		out = append(out, n.Key[len(key)+1:])
	}
	return out
}

// waitRegistrations polls until n members are registered under key.
func waitRegistrations(t *testing.T, c *client.Client, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(context.Background(), key, client.GetOptions{})
		if err == nil && len(resp.Node.Nodes) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d registrations did not appear under %s (last: %v, %v)", n, key, resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ids(ms []Member) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// checkFounders checks that every result bootstraps the same members,
// in registration order, and that they are exactly want (by ID, any order).
func checkFounders(t *testing.T, results []Result, want []uint64) {
	t.Helper()
	first := results[0].Members
	for i, r := range results {
		if !r.Bootstrap {
			t.Errorf("result %d: Bootstrap false, want true", i)
		}
		if !slices.Equal(ids(r.Members), ids(first)) {
			t.Errorf("result %d: members %x, result 0 has %x", i, ids(r.Members), ids(first))
		}
	}
	for i := 1; i < len(first); i++ {
		if first[i-1].Index >= first[i].Index {
			t.Errorf("members not in registration order: %+v", first)
		}
	}
	got := slices.Sorted(slices.Values(ids(first)))
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("founders %x, want %x", got, want)
	}
}
