package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/httpapi"
	"github.com/arbor-kv/arbor/internal/store"
	"github.com/arbor-kv/arbor/internal/testutil"
	"github.com/arbor-kv/arbor/internal/transport/faultnet"
)

// testCluster is the least this package's cluster tests need: members in
// this process behind real listeners on 127.0.0.1, joined through
// Config.Join as cmd/arbor joins them, with peer traffic through a
// faultnet.Network. Member i has faultnet ID i+1. (internal/cluster is the
// full harness; it builds on this package, so these tests cannot use it.)
type testCluster struct {
	t        *testing.T
	net      *faultnet.Network
	members  []*testMember
	tick     time.Duration
	election int
	logs     *testutil.Buffer
}

type testMember struct {
	netID uint64
	srv   *Server
	url   string // client URL
}

// startTestCluster starts n members, the first founding the cluster and
// the others joining through it, and waits until every member follows the
// same leader and serves reads.
func startTestCluster(t *testing.T, n int, tick time.Duration, electionTicks int) *testCluster {
	t.Helper()
	c := &testCluster{t: t, net: faultnet.New(), tick: tick, election: electionTicks, logs: &testutil.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("members' logs:\n%s", c.logs.String())
		}
	})
	var join []string
	for i := range n {
		m := c.startMember(i, join)
		if i == 0 {
			join = m.srv.cfg.PeerURLs
		}
	}
	c.waitStable()
	return c
}

func (c *testCluster) startMember(i int, join []string) *testMember {
	t := c.t
	netID := uint64(i + 1)
	clientLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peerLn, err := c.net.Listen(netID, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("m%d", i)
	log := slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("member", name)
	srv, err := Start(Config{
		Name:           name,
		DataDir:        t.TempDir(),
		ClientURLs:     []string{"http://" + clientLn.Addr().String()},
		PeerURLs:       []string{"http://" + peerLn.Addr().String()},
		TickInterval:   c.tick,
		ElectionTicks:  c.election,
		RequestTimeout: 2 * time.Second,
		Join:           join,
		JoinTimeout:    10 * time.Second,
		PeerDial:       c.net.Dialer(netID),
		Logger:         log,
	})
	if err != nil {
		clientLn.Close()
		peerLn.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	// Cancelling base ends watch responses before the listeners close.
	base, cancel := context.WithCancel(context.Background())
	var servers []*http.Server
	for _, x := range []struct {
		ln net.Listener
		h  http.Handler
	}{{clientLn, httpapi.New(srv, httpapi.Options{Logger: log})}, {peerLn, srv.PeerHandler()}} {
		hs := &http.Server{Handler: x.h, BaseContext: func(net.Listener) context.Context { return base }}
		servers = append(servers, hs)
		go func() { _ = hs.Serve(x.ln) }()
	}
	t.Cleanup(func() {
		cancel()
		for _, hs := range servers {
			hs.Close()
		}
		srv.Stop()
	})
	m := &testMember{netID: netID, srv: srv, url: srv.cfg.ClientURLs[0]}
	c.members = append(c.members, m)
	return m
}

// electionTimeout is Raft's election timeout in this cluster.
func (c *testCluster) electionTimeout() time.Duration {
	return time.Duration(c.election) * c.tick
}

// waitStable waits until every member serves reads and all follow the
// same leader, which is one of them.
func (c *testCluster) waitStable() *testMember {
	c.t.Helper()
	var leader *testMember
	waitFor(c.t, "every member to follow one leader", func() bool {
		leader = c.leader(c.members...)
		if leader == nil {
			return false
		}
		for _, m := range c.members {
			if m.srv.Health(context.Background()) != nil || m.srv.node.Status().Leader != leader.srv.ID() {
				return false
			}
		}
		return true
	})
	return leader
}

// leader is the member among ms that leads, or nil.
func (c *testCluster) leader(ms ...*testMember) *testMember {
	for _, m := range ms {
		if m.srv.node.Status().IsLeader {
			return m
		}
	}
	return nil
}

// others are the members but m.
func (c *testCluster) others(m *testMember) []*testMember {
	var out []*testMember
	for _, o := range c.members {
		if o != m {
			out = append(out, o)
		}
	}
	return out
}

// mustPut writes key=val through m, retrying while the cluster has no
// leader. Only a write that succeeded is known to be in the log; the
// failed attempts may be too (a timeout), so callers take the order of
// events from the store's history, not from their own writes.
func (c *testCluster) mustPut(ctx context.Context, m *testMember, key, val string) *store.Event {
	c.t.Helper()
	for {
		ev, err := m.srv.Write(ctx, putRequest(key, val))
		if err == nil {
			return ev
		}
		if ctx.Err() != nil {
			c.t.Fatalf("put %s through %s: %v", key, m.srv.cfg.Name, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(c.tick):
		}
	}
}

func putRequest(key, val string) *store.Request {
	return &store.Request{Method: store.MethodPut, Path: key, Val: val, Time: time.Now().UnixNano()}
}
