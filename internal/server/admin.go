package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

// clusterConfigKey holds the cluster-wide configuration, where etcd 0.4
// kept it: a hidden key written through the log, so every member applies
// the same configuration at the same index and it travels in snapshots.
// Clients may read it; only the server writes under /_etcd.
const clusterConfigKey = "/_etcd/config"

// etcd 0.4's defaults and lower bounds for the cluster configuration.
const (
	DefaultActiveSize   = 9
	MinActiveSize       = 3
	DefaultRemoveDelay  = 1800.0 // seconds
	MinRemoveDelay      = 2.0
	DefaultSyncInterval = 5.0 // seconds
	MinSyncInterval     = 1.0
)

// ClusterConfig is the cluster-wide configuration of etcd 0.4's admin API
// (GET/PUT /v2/admin/config on the peer port); the JSON is its wire format.
type ClusterConfig struct {
	// ActiveSize is how many voters the cluster wants; members beyond it
	// are learners (etcd 0.4's standbys).
	ActiveSize int `json:"activeSize"`
	// RemoveDelay is how many seconds a member (voter or learner) may be
	// unreachable from the leader before the leader removes it.
	RemoveDelay float64 `json:"removeDelay"`
	// SyncInterval is how often, in seconds, an etcd 0.4 standby polled
	// the cluster. Arbor's learners follow the log instead, so it is kept
	// and shown for compatibility but changes nothing.
	SyncInterval float64 `json:"syncInterval"`
}

// DefaultClusterConfig is etcd 0.4's default configuration.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{ActiveSize: DefaultActiveSize, RemoveDelay: DefaultRemoveDelay, SyncInterval: DefaultSyncInterval}
}

// withDefaults fills zero fields with the defaults.
func (c ClusterConfig) withDefaults() ClusterConfig {
	d := DefaultClusterConfig()
	if c.ActiveSize == 0 {
		c.ActiveSize = d.ActiveSize
	}
	if c.RemoveDelay == 0 {
		c.RemoveDelay = d.RemoveDelay
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = d.SyncInterval
	}
	return c
}

// check refuses values below etcd 0.4's bounds with the error codes its
// table reserves for them (etcd 0.4.6 itself silently raised such values
// to the bound; an operator should rather learn that the value was not
// taken).
func (c ClusterConfig) check(index uint64) error {
	switch {
	case c.ActiveSize < MinActiveSize:
		return apierr.Newf(apierr.InvalidActive, index, "activeSize %d is below the minimum of %d", c.ActiveSize, MinActiveSize)
	case math.IsNaN(c.RemoveDelay) || c.RemoveDelay < MinRemoveDelay:
		return apierr.Newf(apierr.InvalidRemove, index, "removeDelay %g is below the minimum of %g seconds", c.RemoveDelay, MinRemoveDelay)
	case math.IsNaN(c.SyncInterval) || c.SyncInterval < MinSyncInterval:
		return apierr.Newf(apierr.InvalidField, index, "syncInterval %g is below the minimum of %g seconds", c.SyncInterval, MinSyncInterval)
	}
	return nil
}

func (c ClusterConfig) removeDelay() time.Duration {
	return time.Duration(c.RemoveDelay * float64(time.Second))
}

// ClusterConfig is the configuration as of this member's applied index:
// the one stored in the log, or, before any is stored, the one this member
// was started with.
func (s *Server) ClusterConfig() ClusterConfig {
	c, _, _ := s.storedClusterConfig()
	return c
}

// storedClusterConfig also says whether a configuration is stored, and at
// which index (for compare-and-swap).
func (s *Server) storedClusterConfig() (ClusterConfig, uint64, bool) {
	seed := s.cfg.Cluster.withDefaults()
	// Not a client read: Value counts no gets in /v2/stats/store.
	val, modified, ok := s.store.Value(clusterConfigKey)
	if !ok {
		return seed, 0, false
	}
	var c ClusterConfig
	if err := json.Unmarshal([]byte(val), &c); err != nil {
		s.log.Error("undecodable cluster configuration; using this member's", "key", clusterConfigKey, "err", err)
		return seed, modified, true
	}
	return c.withDefaults(), modified, true
}

// clusterConfigUpdate holds the fields a PUT gave; absent ones keep their
// value, as in etcd 0.4.
type clusterConfigUpdate struct {
	ActiveSize   *float64 `json:"activeSize"`
	RemoveDelay  *float64 `json:"removeDelay"`
	SyncInterval *float64 `json:"syncInterval"`
}

// SetClusterConfig applies update to the stored configuration through the
// log and returns the result. Concurrent updates of different fields do
// not lose each other: the write is a compare-and-swap on the index read.
func (s *Server) setClusterConfig(ctx context.Context, u clusterConfigUpdate) (ClusterConfig, error) {
	for attempt := 0; ; attempt++ {
		c, index, stored := s.storedClusterConfig()
		if u.ActiveSize != nil {
			if *u.ActiveSize != math.Trunc(*u.ActiveSize) || *u.ActiveSize > math.MaxInt32 {
				return c, apierr.Newf(apierr.InvalidActive, s.store.Index(), "activeSize %g is not a whole number of members", *u.ActiveSize)
			}
			c.ActiveSize = int(*u.ActiveSize)
		}
		if u.RemoveDelay != nil {
			c.RemoveDelay = *u.RemoveDelay
		}
		if u.SyncInterval != nil {
			c.SyncInterval = *u.SyncInterval
		}
		if err := c.check(s.store.Index()); err != nil {
			return c, err
		}
		err := s.writeClusterConfig(ctx, c, index, stored)
		if apierr.Is(err, apierr.TestFailed) || apierr.Is(err, apierr.NodeExist) {
			if attempt < 10 {
				continue // someone else changed it meanwhile: redo on theirs
			}
		}
		return c, err
	}
}

// writeClusterConfig stores c if the key is still at index (or still
// absent, when stored is false).
func (s *Server) writeClusterConfig(ctx context.Context, c ClusterConfig, index uint64, stored bool) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	r := &store.Request{Method: store.MethodPut, Path: clusterConfigKey, Val: string(b), Time: s.cfg.Clock().UnixNano()}
	if stored {
		r.PrevIndex = index
	} else {
		absent := false
		r.PrevExist = &absent
	}
	_, err = s.Write(ctx, r)
	return err
}

// maybeSeedClusterConfig stores this member's configuration (its flags)
// when none is stored yet: the first leader of a new cluster does it, so
// the flags of the member that bootstraps a cluster seed its
// configuration, and from then on only the admin API changes it.
func (s *Server) maybeSeedClusterConfig(ctx context.Context) (seeded bool) {
	if _, _, stored := s.storedClusterConfig(); stored {
		return false
	}
	c := s.cfg.Cluster.withDefaults()
	if err := s.writeClusterConfig(ctx, c, 0, false); err != nil {
		if !apierr.Is(err, apierr.NodeExist) {
			s.log.Warn("store the cluster configuration", "err", err)
		}
		return true
	}
	s.log.Info("cluster configuration stored from this member's flags",
		"active_size", c.ActiveSize, "remove_delay", c.RemoveDelay, "sync_interval", c.SyncInterval)
	return true
}

// seedAtBootstrap stores the configuration before Start returns when this
// member has just started a cluster of its own, so that the key takes the
// index right after the member's own /_etcd/machines key instead of
// appearing between two client writes (as etcd 0.4, which wrote it while
// bootstrapping). Founders and old data dirs get it from their first
// leader's self-healing loop instead.
func (s *Server) seedAtBootstrap(restarted bool) {
	if restarted || len(s.cfg.Founders) > 0 || !s.node.SoleVoter() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	for !s.node.Status().IsLeader {
		select {
		case <-s.node.LeaderChanged():
		case <-time.After(s.cfg.TickInterval):
		case <-ctx.Done():
			return
		}
	}
	s.maybeSeedClusterConfig(ctx)
}

// Role is this member's part in the cluster as of its applied index:
// "voter", "learner" (etcd 0.4's standby: replicates and serves reads,
// forwards writes, does not vote), or "unknown" while it has not applied
// the change that made it a member (a restart replaying its log).
func (s *Server) Role() string {
	m, ok := s.members.get(s.id.MemberID)
	switch {
	case !ok:
		return "unknown"
	case m.Learner:
		return "learner"
	}
	return "voter"
}

// startRole is the role the member starts in, and why. It is called
// before the apply loop runs: a restarted member knows its role as of its
// snapshot, and its log may still change it (noteRoleChange logs that).
func (s *Server) startRole(restarted bool) (role, why string) {
	switch {
	case restarted:
		return s.Role(), "restarted from its data dir: the role its snapshot records; a change in its log is logged when applied"
	case len(s.cfg.Founders) > 0:
		return "voter", "founding member of a new cluster"
	case len(s.cfg.Join) == 0:
		return "voter", "started a new cluster"
	case s.Role() == "learner":
		return "learner", "joined a cluster that already had its activeSize of voters"
	}
	return s.Role(), "joined a cluster with fewer voters than its activeSize"
}

// noteRoleChange logs this member's role whenever the log sets or changes
// it, so that a role never changes silently. Called by the apply loop.
func (s *Server) noteRoleChange(old memberRecord, known bool, now memberRecord) {
	if now.ID != s.id.MemberID || (known && old.Learner == now.Learner) {
		return
	}
	role, why := "voter", "added as a voter"
	switch {
	case now.Learner && known:
		role, why = "learner", "demoted by the leader: the cluster has more voters than its activeSize"
	case now.Learner:
		role, why = "learner", "added as a learner: the cluster had its activeSize of voters"
	case known:
		why = "promoted by the leader: the cluster had fewer voters than its activeSize"
	}
	s.log.Info("this member's role", "role", role, "why", why)
}

// Admin API on the peer port (etcd 0.4's /v2/admin).
const (
	adminConfigPath   = "/v2/admin/config"
	adminMachinesPath = "/v2/admin/machines"
)

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+adminConfigPath, s.serveGetConfig)
	mux.HandleFunc("PUT "+adminConfigPath, s.servePutConfig)
	mux.HandleFunc("GET "+adminMachinesPath, s.serveMachines)
	mux.HandleFunc("GET "+adminMachinesPath+"/{name}", s.serveMachine)
	mux.HandleFunc("DELETE "+adminMachinesPath+"/{name}", s.serveRemoveMachine)
}

func (s *Server) serveGetConfig(w http.ResponseWriter, r *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.ClusterConfig())
}

func (s *Server) servePutConfig(w http.ResponseWriter, r *http.Request) {
	var u clusterConfigUpdate
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		err = dec.Decode(&u)
	}
	if err != nil {
		s.writeAdminError(w, apierr.Newf(apierr.InvalidField, s.store.Index(), "cluster configuration: %v", err))
		return
	}
	c, err := s.setClusterConfig(r.Context(), u)
	if err != nil {
		s.writeAdminError(w, err)
		return
	}
	s.log.Info("cluster configuration changed through the admin API",
		"active_size", c.ActiveSize, "remove_delay", c.RemoveDelay, "sync_interval", c.SyncInterval)
	writeAdminJSON(w, http.StatusOK, c)
}

// machine is one member as etcd 0.4's /v2/admin/machines shows it. State
// is "leader", "follower" (a voter), or "learner" (which etcd 0.4, whose
// standbys were not members, never listed).
type machine struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	ClientURL string `json:"clientURL"`
	PeerURL   string `json:"peerURL"`
}

// machines lists the members by name, as of the applied index.
func (s *Server) machines() []machine {
	leader := s.node.Status().Leader
	list := s.members.list()
	out := make([]machine, 0, len(list))
	for _, m := range list {
		state := "follower"
		switch {
		case m.Learner:
			state = "learner"
		case m.ID == leader:
			state = "leader"
		}
		name := m.Name
		if name == "" { // added by peer URL and not started yet
			name = fmt.Sprintf("%x", m.ID)
		}
		out = append(out, machine{Name: name, State: state, ClientURL: first(m.ClientURLs), PeerURL: first(m.PeerURLs)})
	}
	slices.SortFunc(out, func(a, b machine) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *Server) serveMachines(w http.ResponseWriter, r *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.machines())
}

func (s *Server) serveMachine(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	for _, m := range s.machines() {
		if m.Name == name {
			writeAdminJSON(w, http.StatusOK, m)
			return
		}
	}
	s.writeAdminError(w, apierr.New(apierr.KeyNotFound, machinesDir+"/"+name, s.store.Index()))
}

// serveRemoveMachine removes a member for good (etcd 0.4's forced
// removal): its data dir can no longer rejoin.
func (s *Server) serveRemoveMachine(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	m, ok := s.members.byName(name)
	if !ok {
		s.writeAdminError(w, apierr.New(apierr.KeyNotFound, machinesDir+"/"+name, s.store.Index()))
		return
	}
	if err := s.RemoveMember(r.Context(), m.ID); err != nil {
		s.writeAdminError(w, err)
		return
	}
	s.log.Warn("member removed through the admin API", "name", m.Name, "id", fmt.Sprintf("%x", m.ID))
	w.WriteHeader(http.StatusOK)
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeAdminError answers err in etcd's error format.
func (s *Server) writeAdminError(w http.ResponseWriter, err error) {
	var e *apierr.Error
	if !errors.As(err, &e) {
		e = apierr.New(apierr.RaftInternal, err.Error(), s.store.Index())
	}
	writeAdminJSON(w, e.StatusCode(), e)
}
