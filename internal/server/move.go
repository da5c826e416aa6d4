package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A member restarted with other peer URLs than its record in the log (a
// machine back with a new address) never hears from the leader, which
// goes on sending to the old URL, so it cannot commit its new record
// itself. So, until it hears from a leader and catches up, it greets the
// members it knows of (-peers, then the others' recorded peer URLs) at
// their peer ports: each greeted member sends to its new URLs from then on
// and answers its own current ones, which the greeter sends to in turn.
// Once in touch, the member catches up and publishes its record
// (publishSelf). Greetings only steer the transport; the registry changes
// through the log alone. When every member moved (a cluster back with new
// addresses, each told the others' by -peers), their greetings reconnect
// them all. etcd 0.4 likewise let a member rejoin with a new peer address.

// helloPath is where a member greets another on its peer port.
const helloPath = "/hello"

// hello is a member telling another where it is: the request and the
// answer alike.
type hello struct {
	ClusterID string   `json:"clusterID"` // hex
	MemberID  string   `json:"memberID"`  // hex
	Name      string   `json:"name"`
	PeerURLs  []string `json:"peerURLs"`
}

func (s *Server) selfHello() hello {
	return hello{ClusterID: strconv.FormatUint(s.id.ClusterID, 16), MemberID: strconv.FormatUint(s.id.MemberID, 16),
		Name: s.id.Name, PeerURLs: s.cfg.PeerURLs}
}

// serveHello steers the transport to a greeting member's URLs and answers
// this member's own. A greeting from another cluster, from a member not in
// the registry or under another name, or claiming another member's peer
// URL is refused (409).
func (s *Server) serveHello(w http.ResponseWriter, r *http.Request) {
	var h hello
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&h); err != nil {
		http.Error(w, "hello: bad request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.steerTo(h); err != nil {
		http.Error(w, "hello: "+err.Error(), http.StatusConflict)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.selfHello())
}

// steerTo sends to the member h describes at h's peer URLs, if h is a
// member of this cluster (other than this one) under its recorded name,
// and none of the URLs is another member's.
func (s *Server) steerTo(h hello) error {
	cid, err1 := strconv.ParseUint(h.ClusterID, 16, 64)
	id, err2 := strconv.ParseUint(h.MemberID, 16, 64)
	switch {
	case err1 != nil || err2 != nil || len(h.PeerURLs) == 0:
		return fmt.Errorf("a greeting needs the cluster ID, the member ID (hex) and peer URLs")
	case cid != s.id.ClusterID:
		return fmt.Errorf("member %x is of cluster %x, this one of %x", id, cid, s.id.ClusterID)
	case id == s.id.MemberID:
		return nil
	}
	m, ok := s.members.get(id)
	switch {
	case !ok:
		return fmt.Errorf("no member %x in this member's registry", id)
	case m.Name != h.Name:
		return fmt.Errorf("member %x is named %q, not %q", id, m.Name, h.Name)
	}
	if err := s.checkPeerURLsFree(id, h.PeerURLs); err != nil {
		return err
	}
	if !slices.Equal(m.PeerURLs, h.PeerURLs) {
		s.log.Info("sending to a member at peer URLs not recorded yet", "id", h.MemberID, "name", h.Name,
			"recorded", strings.Join(m.PeerURLs, ","), "now", strings.Join(h.PeerURLs, ","))
		s.peerAdded(memberRecord{ID: id, PeerURLs: h.PeerURLs})
	}
	return nil
}

// moveSelf runs on a restart: while this member's peer URLs are not the
// ones its registry records for it, and it has not caught up, it greets
// every member it knows of, round after round.
func (s *Server) moveSelf() {
	// The registry is the log's once what was committed before the restart
	// is applied again.
	select {
	case <-s.applied.wait(s.node.Status().Commit):
	case <-s.stopc:
		return
	}
	have, ok := s.members.get(s.id.MemberID)
	if !ok || slices.Equal(have.PeerURLs, s.cfg.PeerURLs) {
		return
	}
	s.log.Warn("this member's peer URLs changed since it last ran; greeting the others until it hears from the leader",
		"recorded", strings.Join(have.PeerURLs, ","), "now", strings.Join(s.cfg.PeerURLs, ","))
	client := peerClient(s.cfg.PeerTLS, s.cfg.PeerDial, 2*time.Second)
	defer client.CloseIdleConnections()
	body, err := json.Marshal(s.selfHello())
	if err != nil {
		return
	}
	for {
		// -peers first: the operator's list is this run's; the registry
		// may be as old as this member's own record.
		urls := slices.Clone(s.cfg.Join)
		for _, m := range s.members.list() {
			if m.ID != s.id.MemberID {
				urls = append(urls, m.PeerURLs...)
			}
		}
		for _, u := range urls {
			if h, err := greet(client, u, body); err == nil {
				if err := s.steerTo(h); err != nil {
					s.log.Warn("greeted member answered", "url", u, "err", err)
				}
			} else if errors.Is(err, errGreetingRefused) {
				s.log.Warn("greeting refused", "url", u, "err", err)
			} else {
				s.log.Debug("greeting", "url", u, "err", err)
			}
		}
		select {
		case <-time.After(s.retryPause()):
		case <-s.readyc:
			return
		case <-s.stopc:
			return
		}
	}
}

// errGreetingRefused is a member's 409 to a greeting: it does not take
// this one for a member of its cluster at those URLs.
var errGreetingRefused = errors.New("greeting refused")

// greet posts body (this member's hello) to the member at url and returns
// its answer.
func greet(client *http.Client, url string, body []byte) (hello, error) {
	resp, err := client.Post(strings.TrimRight(url, "/")+helloPath, "application/json", bytes.NewReader(body))
	if err != nil {
		return hello{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		return hello{}, fmt.Errorf("%w: %s", errGreetingRefused, strings.TrimSpace(string(b)))
	default:
		return hello{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var h hello
	if err := json.Unmarshal(b, &h); err != nil {
		return hello{}, fmt.Errorf("undecodable answer: %w", err)
	}
	return h, nil
}
