// Command arbor is the Arbor server: one member of an etcd v2-compatible,
// Raft-replicated key-value store. Flags, environment and config file are
// etcd 0.4's (see docs/configuration.md); this file only wires packages.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/arbor-kv/arbor/internal/config"
	"github.com/arbor-kv/arbor/internal/httpapi"
	"github.com/arbor-kv/arbor/internal/httplane"
	"github.com/arbor-kv/arbor/internal/metric/prom"
	"github.com/arbor-kv/arbor/internal/server"
	"github.com/arbor-kv/arbor/internal/snap"
	"github.com/arbor-kv/arbor/internal/version"
	"github.com/arbor-kv/arbor/internal/wal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "arbor: %v\nRun 'arbor -h' for the list of flags.\n", err)
		return 2
	}
	if cfg.ShowHelp {
		config.Usage(stdout)
		return 0
	}
	if cfg.ShowVersion {
		fmt.Fprintf(stdout, "arbor version %s (etcd v%s API)\n", version.Version, version.APIVersion)
		return 0
	}
	level := slog.LevelInfo
	if cfg.Verbose || cfg.VeryVerbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("arbor stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if cfg.Force {
		if err := os.RemoveAll(cfg.DataDir); err != nil {
			return fmt.Errorf("-force: remove %s: %w", cfg.DataDir, err)
		}
		log.Warn("-force: removed the data dir", "data_dir", cfg.DataDir)
	}
	clientTLS, err := tlsConfig(cfg.CertFile, cfg.KeyFile, cfg.CAFile)
	if err != nil {
		return fmt.Errorf("client TLS: %w", err)
	}
	peerTLS, err := tlsConfig(cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile)
	if err != nil {
		return fmt.Errorf("peer TLS: %w", err)
	}
	// Bind first: a port in use is reported before any data is touched.
	var clientCap, peerCap *connLimiter
	if nc, np := connCaps(openFileLimit()); nc > 0 {
		clientCap, peerCap = newConnLimiter(nc, "client", log), newConnLimiter(np, "peer", log)
		log.Debug("connections capped below the open-file limit", "client", nc, "peer", np)
	}
	clientLns, err := listenAll(cfg.ClientListen, clientTLS, clientCap)
	if err != nil {
		return err
	}
	peerLns, err := listenAll(cfg.PeerListen, peerTLS, peerCap)
	if err != nil {
		closeAll(clientLns)
		return err
	}

	// Loading a snapshot builds the whole heap at once; collecting while it
	// grows from nothing only costs start-up time. tuneGC sets the real
	// policy as soon as the member runs.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
	}
	membership, err := discover(ctx, cfg, peerClientTLS(cfg), log)
	if err != nil {
		closeAll(clientLns)
		closeAll(peerLns)
		return err
	}
	srv, err := server.Start(server.Config{
		Name:           cfg.Name,
		DataDir:        cfg.DataDir,
		ClientURLs:     cfg.ClientURLs,
		PeerURLs:       cfg.PeerURLs,
		SnapshotCount:  cfg.SnapshotCount,
		NoSnapshots:    !cfg.Snapshot,
		SnapshotAtStop: true,
		HistorySize:    cfg.HistorySize,
		HistoryBytes:   cfg.HistoryBytes,
		MaxWatchers:    cfg.MaxWatchers,
		TickInterval:   cfg.HeartbeatInterval,
		ElectionTicks:  electionTicks(cfg.ElectionTimeout, cfg.HeartbeatInterval),
		StrictReads:    cfg.StrictReads,
		WALHeldSync:    cfg.WALHeldSync,
		SyncInterval:   500 * time.Millisecond,
		Join:           membership.join,
		Founders:       membership.founders,
		MemberID:       membership.memberID,
		PeerTLS:        peerClientTLS(cfg),
		Cluster:        server.ClusterConfig{ActiveSize: cfg.ClusterActiveSize, RemoveDelay: cfg.ClusterRemoveDelay, SyncInterval: cfg.ClusterSyncInterval},
		Logger:         log,
	})
	if err != nil {
		closeAll(clientLns)
		closeAll(peerLns)
		return err
	}
	defer srv.Stop()
	gcCtx, stopGC := context.WithCancel(ctx)
	defer stopGC()
	go tuneGC(gcCtx, log, time.Second)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(
		prom.Histogram("arbor_wal_fsync_duration_seconds", "Latency of WAL fdatasync calls.", wal.FsyncDuration),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "arbor_wal_held_syncs_total", Help: "WAL fdatasync calls that kept their P (-wal-held-sync)."},
			func() float64 { return float64(wal.HeldSyncs.Load()) }),
		prom.Histogram("arbor_snap_save_duration_seconds", "Time to write, fsync and rename a snapshot file.", snap.SaveDuration))
	reg.MustRegister(httpapi.Collectors()...)
	reg.MustRegister(srv.Collectors()...)
	var handler http.Handler = httpapi.New(srv, httpapi.Options{
		MaxRequestBytes: cfg.MaxRequestBytes,
		CORS:            cfg.CORS,
		Logger:          log,
		Gatherer:        reg,
		Version:         version.Version,

		StreamFlushInterval: cfg.StreamFlushInterval,
	})
	// Any arbor is a discovery service: GET /new?size=N hands out a token.
	handler = withDiscoveryService(handler, srv, cfg.ClientURLs[0])
	if cfg.Trace {
		handler = withPprof(handler)
		log.Warn("-trace: serving /debug/pprof on the client port")
	}

	// Cancelling baseCtx ends long-running watch responses at shutdown.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	errc := make(chan error, len(clientLns)+len(peerLns))
	// Each server's Shutdown(ctx) is called at the end.
	var servers []interface{ Shutdown(context.Context) error }
	// start serves ln with h; lane puts the client port's plain-HTTP key
	// requests on httplane's lean loop (everything else there, and TLS,
	// is net/http's).
	start := func(ln net.Listener, h http.Handler, kind string, lane bool) {
		hs := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       cfg.HTTPReadTimeout,
			WriteTimeout:      cfg.HTTPWriteTimeout,
			BaseContext:       func(net.Listener) context.Context { return baseCtx },
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		serve := hs.Serve
		if lane {
			ls := &httplane.Server{HTTP: hs, Prefix: "/v2/keys", NeedsHTTP: []string{"wait"}}
			serve = ls.Serve
			servers = append(servers, ls)
		} else {
			servers = append(servers, hs)
		}
		log.Info("listening", "kind", kind, "addr", ln.Addr().String())
		go func() {
			if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener %s: %w", kind, ln.Addr(), err)
			}
		}()
	}
	for _, ln := range clientLns {
		start(ln, handler, "client", clientTLS == nil)
	}
	peerHandler := peerMux(version.Version, srv.PeerHandler())
	for _, ln := range peerLns {
		start(ln, peerHandler, "peer", false)
	}
	log.Info("arbor ready", "name", cfg.Name, "client_urls", strings.Join(cfg.ClientURLs, ","), "data_dir", cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
	case <-srv.Done():
		if srv.Removed() {
			log.Info("removed from the cluster; exiting")
		} else {
			runErr = errors.New("the member stopped (see the log above)")
		}
	}
	cancelBase()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		_ = hs.Shutdown(shutdownCtx)
	}
	return runErr
}

// peerMux serves the peer ports: Raft traffic and joins (the member's
// handler) and /version, so the port can be probed.
func peerMux(v string, member http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"arbor\":%q}\n", v)
	})
	mux.Handle("/", member)
	return mux
}

// peerURLs turns -peers entries (etcd 0.4 took host:port) into URLs, https
// when this member's peer side uses TLS.
func peerURLs(peers []string, tls bool) []string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	out := make([]string, 0, len(peers))
	for _, p := range peers {
		if strings.Contains(p, "://") {
			out = append(out, p)
		} else {
			out = append(out, scheme+p)
		}
	}
	return out
}

// withPprof adds Go's profiling endpoints (etcd 0.4's -trace).
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			mux.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func electionTicks(election, heartbeat time.Duration) int {
	if heartbeat <= 0 || election <= heartbeat {
		return 10
	}
	return int(election / heartbeat)
}

// listenAll listens on every address, with TLS when tc is set; lim, if
// set, caps the connections open at once over all of them.
func listenAll(addrs []string, tc *tls.Config, lim *connLimiter) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("listen on %s: %w", a, err)
		}
		if lim != nil {
			ln = lim.wrap(ln)
		}
		if tc != nil {
			ln = tls.NewListener(ln, tc)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// tlsConfig builds a server TLS config; with a CA file, clients must
// present a certificate it signed. No cert means plain HTTP.
func tlsConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificates found", caFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// peerClientTLS is how this member dials its peers when the peer side uses
// TLS: it presents its peer certificate and trusts the peer CA. The files
// were checked when the listeners were set up.
func peerClientTLS(cfg *config.Config) *tls.Config {
	server, err := tlsConfig(cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile)
	if err != nil || server == nil {
		return nil
	}
	return &tls.Config{Certificates: server.Certificates, RootCAs: server.ClientCAs, MinVersion: tls.VersionTLS12}
}
