package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/arbor-kv/arbor/internal/httpapi"
	"github.com/arbor-kv/arbor/internal/server"
)

// Member is one in-process member: a server.Server behind real HTTP
// listeners for its client and peer ports, wired as cmd/arbor wires them.
type Member struct {
	c *Cluster
	// Index is the member's position in the cluster (0-based); its
	// faultnet ID, the one Partition, Block and friends take, is Index+1.
	Index int
	// Name is the member's name (m0, m1, ...).
	Name string
	// URL and PeerURL are the client and peer URLs (http://127.0.0.1:port).
	// They stay the same across Stop and Restart.
	URL, PeerURL string
	// DataDir is kept across Stop and Restart.
	DataDir string

	clientAddr, peerAddr string
	join                 []string

	mu      sync.Mutex
	srv     *server.Server // nil while stopped; guarded by mu
	id      uint64         // Raft member ID once started; guarded by mu
	servers []*http.Server // guarded by mu
	cancel  context.CancelFunc
}

// NetID is the member's ID on the cluster's faultnet.Network.
func (m *Member) NetID() uint64 { return uint64(m.Index + 1) }

// Server is the running server, or nil while the member is stopped.
func (m *Member) Server() *server.Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.srv
}

// ID is the member's Raft ID (0 before its first start). A restart keeps
// it: the data dir holds the identity.
func (m *Member) ID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// Running reports whether the member is started.
func (m *Member) Running() bool { return m.Server() != nil }

// start listens on the member's addresses (new ones on the first start),
// starts the server and serves both ports.
func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv != nil {
		return fmt.Errorf("cluster: %s is already running", m.Name)
	}
	clientLn, peerLn, err := m.listen()
	if err != nil {
		return err
	}
	opts := m.c.opts
	srv, err := server.Start(server.Config{
		Name:           m.Name,
		DataDir:        m.DataDir,
		ClientURLs:     []string{m.URL},
		PeerURLs:       []string{m.PeerURL},
		SnapshotCount:  opts.SnapshotCount,
		TickInterval:   opts.TickInterval,
		ElectionTicks:  opts.ElectionTicks,
		RequestTimeout: opts.RequestTimeout,
		SyncInterval:   opts.SyncInterval,
		Join:           m.join,
		JoinTimeout:    opts.JoinTimeout,
		PeerDial:       m.c.net.Dialer(m.NetID()),
		Logger:         m.c.logger.With("member", m.Name),
		Clock:          opts.Clock,
	})
	if err != nil {
		clientLn.Close()
		peerLn.Close()
		return fmt.Errorf("cluster: start %s: %w", m.Name, err)
	}
	// As cmd/arbor: the client port serves httpapi over the server, the
	// peer port the server's peer handler plus /version.
	client := httpapi.New(srv, httpapi.Options{
		Logger:  m.c.logger.With("member", m.Name),
		Clock:   httpapi.Clock(opts.Clock),
		Version: "cluster-test",
	})
	peer := http.NewServeMux()
	peer.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"arbor":"cluster-test"}`)
	})
	peer.Handle("/", srv.PeerHandler())

	// Cancelling baseCtx ends long-running watch responses at Stop.
	baseCtx, cancel := context.WithCancel(context.Background())
	m.srv, m.id, m.cancel, m.servers = srv, srv.ID(), cancel, nil
	for _, x := range []struct {
		ln net.Listener
		h  http.Handler
	}{{clientLn, client}, {peerLn, peer}} {
		hs := &http.Server{
			Handler:           x.h,
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return baseCtx },
			ErrorLog:          slog.NewLogLogger(m.c.logger.Handler(), slog.LevelDebug),
		}
		m.servers = append(m.servers, hs)
		m.c.wg.Add(1)
		go func() {
			defer m.c.wg.Done()
			_ = hs.Serve(x.ln) // ends with ErrServerClosed at Stop
		}()
	}
	return nil
}

// listen binds the member's ports: free ones on the first start, the same
// ones afterwards (its URLs are in every member's membership record).
func (m *Member) listen() (client, peer net.Listener, err error) {
	if m.clientAddr == "" {
		if client, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, nil, err
		}
		if peer, err = m.c.net.Listen(m.NetID(), "127.0.0.1:0"); err != nil {
			client.Close()
			return nil, nil, err
		}
		m.clientAddr, m.peerAddr = client.Addr().String(), peer.Addr().String()
		m.URL, m.PeerURL = "http://"+m.clientAddr, "http://"+m.peerAddr
		return client, peer, nil
	}
	if client, err = listenAgain(m.clientAddr); err != nil {
		return nil, nil, err
	}
	if peer, err = listenAgain(m.peerAddr); err != nil {
		client.Close()
		return nil, nil, err
	}
	m.c.net.Register(m.NetID(), m.peerAddr)
	return client, peer, nil
}

// listenAgain rebinds a port this member had; another process may hold it
// for a moment (e.g. a test's free-port probe), so it retries briefly.
func listenAgain(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop closes the member's listeners and connections and stops its server,
// as an abrupt process exit would look to its peers and clients. What the
// server acknowledged is on disk (the WAL is synced before any answer).
func (m *Member) stop() error {
	m.mu.Lock()
	srv, servers, cancel := m.srv, m.servers, m.cancel
	m.srv, m.servers, m.cancel = nil, nil, nil
	m.mu.Unlock()
	if srv == nil {
		return errors.New("cluster: " + m.Name + " is not running")
	}
	cancel()
	for _, hs := range servers {
		_ = hs.Close()
	}
	srv.Stop()
	return nil
}
