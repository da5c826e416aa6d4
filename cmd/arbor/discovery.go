package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/arbor-kv/arbor/internal/config"
	"github.com/arbor-kv/arbor/internal/discovery"
	"github.com/arbor-kv/arbor/internal/server"
	"github.com/arbor-kv/arbor/internal/store"
)

// membership is how a new member enters a cluster: join the members at
// join, found one with founders, or (both empty) start a cluster alone.
type membership struct {
	join     []string
	founders []server.Founder
	memberID uint64
}

// discover decides how this member enters its cluster. A data dir that
// already holds a member restarts as that member: -peers and -discovery
// are ignored then (the server says so). With -discovery, the token's
// registrations decide whether this member founds the cluster or joins it;
// with -peers, it joins through them.
func discover(ctx context.Context, cfg *config.Config, peerTLS *tls.Config, log *slog.Logger) (membership, error) {
	joinURLs := peerURLs(cfg.Peers, peerTLS != nil)
	if cfg.Discovery == "" || server.HasData(cfg.DataDir) {
		return membership{join: joinURLs}, nil
	}
	if len(cfg.Peers) > 0 {
		log.Warn("-discovery given: ignoring -peers", "peers", cfg.Peers)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return membership{}, err
	}
	id := binary.BigEndian.Uint64(b[:]) | 1 // never 0
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	log.Info("registering with the discovery service", "url", cfg.Discovery)
	res, err := discovery.Join(ctx, discovery.Config{
		URL: cfg.Discovery, ID: id, Name: cfg.Name, PeerURLs: cfg.PeerURLs, Logger: log,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: peerTLS}},
	})
	if err != nil {
		return membership{}, fmt.Errorf("-discovery %s: %w", cfg.Discovery, err)
	}
	if again := others(res); len(again) > 0 && server.ClusterRunsAt(again, peerTLS) {
		// Registered by an earlier run whose data dir is gone: starting Raft
		// again under that ID with an empty log would forget its votes and
		// the entries it acknowledged (the first member of a token without
		// a size would even found a cluster of its own).
		log.Warn("discovery: this member registered before and its cluster runs, but its data dir is new; joining as a new member in place of the old one", "through", again)
		return membership{join: again}, nil
	}
	if !res.Bootstrap {
		var urls []string
		for _, m := range res.Members {
			urls = append(urls, m.PeerURLs...)
		}
		log.Info("discovery: joining the running cluster", "through", urls)
		return membership{join: urls}, nil
	}
	var founders []server.Founder
	for _, m := range res.Members {
		founders = append(founders, server.Founder{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs})
	}
	log.Info("discovery: founding the cluster", "members", len(founders))
	return membership{founders: founders, memberID: res.ID}, nil
}

// withDiscoveryService serves GET /new?size=N (a fresh discovery token
// under /_etcd/registry, written through this member's log) next to h.
//
// Not an http.ServeMux: a mux answers every unclean path (/v2/keys//a) with
// a redirect, which the keys API serves as the clean key instead, and it
// costs a few allocations per request.
func withDiscoveryService(h http.Handler, srv *server.Server, publicURL string) http.Handler {
	disc := discovery.NewHandler(registryKeys{srv}, func(*http.Request) string { return publicURL })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/new" {
			disc.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// registryKeys creates discovery keys through the member's own writes.
type registryKeys struct{ srv *server.Server }

func (k registryKeys) Create(ctx context.Context, key, value string) error {
	exist := false
	_, err := k.srv.Write(ctx, &store.Request{Method: store.MethodPut, Path: key, Val: value, PrevExist: &exist, Time: time.Now().UnixNano()})
	return err
}

// others lists the peer URLs of the members registered with this one when
// it was registered before (res.Registered), this one left out.
func others(res discovery.Result) []string {
	var urls []string
	for _, m := range res.Registered {
		if m.ID != res.ID {
			urls = append(urls, m.PeerURLs...)
		}
	}
	return urls
}
