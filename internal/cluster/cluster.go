package cluster

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
	"github.com/arbor-kv/arbor/internal/transport/faultnet"
)

// Options configure New. Zero values take the defaults beside them.
type Options struct {
	Size int // members (3)

	TickInterval   time.Duration // Raft heartbeat (20ms)
	ElectionTicks  int           // election timeout in ticks (10)
	RequestTimeout time.Duration // how long a write waits to apply (2s)
	SyncInterval   time.Duration // the leader's TTL clock entries (500ms)
	JoinTimeout    time.Duration // (10s)
	SnapshotCount  uint64        // entries between snapshots (server's default)
	// Clock, if set, is every member's clock (TTL expirations and the
	// leader's Sync entries).
	Clock func() time.Time
	// LogLevel of the members' logs, which are shown when a test fails
	// (default slog.LevelInfo).
	LogLevel slog.Level
}

func (o *Options) setDefaults() {
	if o.Size == 0 {
		o.Size = 3
	}
	if o.TickInterval == 0 {
		o.TickInterval = 20 * time.Millisecond
	}
	if o.ElectionTicks == 0 {
		o.ElectionTicks = 10
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 2 * time.Second
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 500 * time.Millisecond
	}
	if o.JoinTimeout == 0 {
		o.JoinTimeout = 10 * time.Second
	}
}

// ElectionTimeout is Raft's election timeout for these options.
func (o Options) ElectionTimeout() time.Duration {
	return time.Duration(o.ElectionTicks) * o.TickInterval
}

// Cluster is N in-process members on 127.0.0.1 whose peer traffic runs
// through one faultnet.Network.
type Cluster struct {
	t       testing.TB
	opts    Options
	net     *faultnet.Network
	members []*Member
	logs    *testutil.Buffer
	logger  *slog.Logger
	// Client is an HTTP client for talking to the members; New closes its
	// idle connections at the end.
	Client *http.Client
	wg     sync.WaitGroup // the members' HTTP serve goroutines
}

// New starts a cluster: member 0 bootstraps it, the others join through
// the members started before them, one at a time. It returns once a leader
// is agreed on and every member is healthy and knows every other. The
// cluster is stopped when the test ends, which then fails if goroutines
// the cluster started are still running.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts.setDefaults()
	leaks := watchGoroutines()
	dir := t.TempDir() // before the cleanup below, so removed after it
	logs := &testutil.Buffer{}
	c := &Cluster{
		t:      t,
		opts:   opts,
		net:    faultnet.New(),
		logs:   logs,
		logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: opts.LogLevel})),
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	t.Cleanup(func() {
		c.close()
		if err := leaks.check(10 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("member logs:\n%s", tail(logs.String(), 256<<10))
		}
	})
	for i := range opts.Size {
		m := &Member{c: c, Index: i, Name: fmt.Sprintf("m%d", i), DataDir: filepath.Join(dir, fmt.Sprintf("m%d", i))}
		for _, prev := range c.members {
			m.join = append(m.join, prev.PeerURL)
		}
		if err := m.start(); err != nil {
			t.Fatal(err)
		}
		c.members = append(c.members, m)
	}
	if _, err := c.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// Options returns the options the cluster runs with, defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// Size is the number of members, running or not.
func (c *Cluster) Size() int { return len(c.members) }

// Member returns member i (0-based).
func (c *Cluster) Member(i int) *Member { return c.members[i] }

// Members returns every member.
func (c *Cluster) Members() []*Member { return slices.Clone(c.members) }

// Network is the faultnet.Network the members' peer traffic runs through;
// its member IDs are Member.NetID (index+1).
func (c *Cluster) Network() *faultnet.Network { return c.net }

// Logs returns what the members logged so far.
func (c *Cluster) Logs() string { return c.logs.String() }

// Stop stops member i; its data dir and ports are kept for Restart.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if err := c.members[i].stop(); err != nil {
		c.t.Fatal(err)
	}
}

// Restart starts a stopped member i again on its data dir and ports: it
// keeps its identity and data, and rejoins the cluster without a join.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.members[i].start(); err != nil {
		c.t.Fatal(err)
	}
}

// Partition cuts the given members (by index) off from all the others in
// both directions; each side still talks within itself. Heal undoes it.
func (c *Cluster) Partition(indexes ...int) {
	var in, out []uint64
	for _, m := range c.members {
		if slices.Contains(indexes, m.Index) {
			in = append(in, m.NetID())
		} else {
			out = append(out, m.NetID())
		}
	}
	c.net.Partition(in, out)
}

// Heal removes every network fault.
func (c *Cluster) Heal() { c.net.Heal() }

// Leader returns the index of the member that leads, or -1: a running
// member that considers itself leader and that a majority of all members
// (counting itself) follow. Two members may briefly both believe they
// lead (an old leader cut off from the rest); only one has a majority.
func (c *Cluster) Leader() int {
	votes := map[uint64]int{}
	self := map[uint64]int{}
	for _, m := range c.members {
		srv := m.Server()
		if srv == nil {
			continue
		}
		lead := srv.Status().LeaderID
		if lead == 0 {
			continue
		}
		votes[lead]++
		if lead == srv.ID() {
			self[lead] = m.Index
		}
	}
	for id, i := range self {
		if votes[id] > len(c.members)/2 {
			return i
		}
	}
	return -1
}

// WaitLeader polls until Leader answers a member, or fails after timeout.
func (c *Cluster) WaitLeader(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if i := c.Leader(); i >= 0 {
			return i, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("cluster: no leader agreed on within %v", timeout)
		}
		time.Sleep(c.opts.TickInterval)
	}
}

// WaitHealthy polls until every running member reports itself healthy (a
// leader known, caught up since start) and lists every member, or fails
// the test.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, m := range c.members {
		for {
			srv := m.Server()
			if srv == nil {
				break
			}
			err := srv.Health(c.t.Context())
			if err == nil && len(srv.Members()) != len(c.members) {
				err = fmt.Errorf("knows %d members of %d", len(srv.Members()), len(c.members))
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("cluster: %s not healthy within %v: %v", m.Name, timeout, err)
			}
			time.Sleep(c.opts.TickInterval)
		}
	}
}

// close stops every running member and waits for their goroutines.
func (c *Cluster) close() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		if m.Running() {
			wg.Go(func() { _ = m.stop() })
		}
	}
	wg.Wait()
	c.wg.Wait()
	c.Client.CloseIdleConnections()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
