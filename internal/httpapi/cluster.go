package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// serveHealth answers /health as etcd 3.4 does: {"health":"true"} when the
// member has a leader and serves, otherwise {"health":"false"} with 503.
func (h *handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	// etcd 3.4 sets no Content-Type here, so net/http sniffs text/plain.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.b.Health(r.Context()); err != nil {
		h.log.Warn("httpapi: /health failed", "err", err)
		writeBody(w, r, http.StatusServiceUnavailable, []byte(`{"health":"false"}`))
		return
	}
	writeBody(w, r, http.StatusOK, []byte(`{"health":"true"}`))
}

// serveLeaderStats answers /v2/stats/leader. etcd serves it only on the
// leader; elsewhere it answers 403 with its plain {"message": ...} error
// form (not a v2 error code).
func (h *handler) serveLeaderStats(w http.ResponseWriter, r *http.Request) {
	stats, ok := h.b.LeaderStats()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		writeBody(w, r, http.StatusForbidden, []byte(`{"message":"not current leader"}`))
		return
	}
	h.writeJSON(w, r, stats, false)
}

// serveMachines answers /v2/machines: every member's client URLs, joined by
// ", " as etcd 0.4 through 3.4 do.
func (h *handler) serveMachines(w http.ResponseWriter, r *http.Request) {
	var urls []string
	for _, m := range h.b.Members() {
		urls = append(urls, m.ClientURLs...)
	}
	writeRaw(w, r, "text/plain; charset=utf-8", []byte(strings.Join(urls, ", ")))
}

// serveLeader answers /v2/leader as etcd 0.4 did: the leader's peer URL as
// plain text. etcd 2 and 3 dropped the endpoint; clients of 0.4 still ask.
// Without a leader it answers 301 During Leader Election.
func (h *handler) serveLeader(w http.ResponseWriter, r *http.Request, st Status) {
	if st.LeaderID != 0 {
		for _, m := range h.b.Members() {
			if m.ID == st.LeaderID && len(m.PeerURLs) > 0 {
				writeRaw(w, r, "text/plain; charset=utf-8", []byte(m.PeerURLs[0]))
				return
			}
		}
	}
	h.writeError(w, r, apierr.New(apierr.LeaderElect, "no leader", st.StoreIndex))
}

// memberJSON is a member as etcd's /v2/members shows it.
type memberJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// serveMembers answers GET /v2/members (changes: members.go).
func (h *handler) serveMembers(w http.ResponseWriter, r *http.Request) {
	ms := h.b.Members()
	out := struct {
		Members []memberJSON `json:"members"`
	}{Members: make([]memberJSON, 0, len(ms))}
	for _, m := range ms {
		out.Members = append(out.Members, toMemberJSON(m))
	}
	h.writeJSON(w, r, out, true)
}

// serveMember answers GET /v2/members/leader, which etcdctl's member list
// asks to mark the leader. etcd 2+ serves no other single member.
func (h *handler) serveMember(w http.ResponseWriter, r *http.Request, name string, st Status) {
	w.Header().Set("Content-Type", "application/json")
	if name != "leader" {
		writeBody(w, r, http.StatusNotFound, []byte(`{"message":"Not found"}`))
		return
	}
	if leader := st.LeaderID; leader != 0 {
		for _, m := range h.b.Members() {
			if m.ID == leader {
				h.writeJSON(w, r, toMemberJSON(m), true)
				return
			}
		}
	}
	writeBody(w, r, http.StatusServiceUnavailable, []byte(`{"message":"During election"}`))
}

func toMemberJSON(m Member) memberJSON {
	return memberJSON{
		ID:   strconv.FormatUint(m.ID, 16),
		Name: m.Name,
		// A member that has not published its URLs yet shows [], not
		// null, so clients can range over the field.
		PeerURLs:   nonNil(m.PeerURLs),
		ClientURLs: nonNil(m.ClientURLs),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
