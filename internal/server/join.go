package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// joinPath is where a new member asks a running one to add it (etcd 0.4
// had /join on the peer port too).
const joinPath = "/join"

// clusterPath answers the member's cluster ID, so that a restarting member
// can tell whether the peers it was given are its cluster.
const clusterPath = "/cluster"

func (s *Server) serveClusterID(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"clusterID": strconv.FormatUint(s.id.ClusterID, 16),
		"memberID":  strconv.FormatUint(s.id.MemberID, 16),
	})
}

// checkSameCluster refuses to start a member whose data dir belongs to
// another cluster than the peers it was told to join: it would never be
// let in (the transport refuses other clusters), and silently running
// alone would split the data. The peers are asked at once (when a whole
// cluster restarts, the others' ports are open before they answer, and
// asking in turn would wait out each one's timeout); one of this cluster
// is enough, and peers that do not answer prove nothing.
func (s *Server) checkSameCluster() error {
	var other *clusterAnswer
	for a := range askClusterIDs(s.cfg.Join, s.cfg.PeerTLS, s.cfg.PeerDial) {
		switch a.cid {
		case 0:
		case s.id.ClusterID:
			return nil
		default:
			other = &a
		}
	}
	if other != nil {
		return fmt.Errorf("data dir %s belongs to cluster %x, but the member at %s belongs to cluster %x: "+
			"start with the right -peers, or with an empty data dir to join that cluster", s.cfg.DataDir, s.id.ClusterID, other.url, other.cid)
	}
	return nil
}

// ClusterRunsAt reports whether a member answers its cluster ID at any of
// peerURLs (asked at once, for at most 2 s).
func ClusterRunsAt(peerURLs []string, tc *tls.Config) bool {
	for a := range askClusterIDs(peerURLs, tc, nil) {
		if a.cid != 0 {
			return true
		}
	}
	return false
}

// clusterAnswer is a member's cluster ID at url (0: no answer).
type clusterAnswer struct {
	url string
	cid uint64
}

// askClusterIDs asks the members at urls for their cluster IDs, all at
// once, and yields the answers as they come (2 s at most each). Stopping
// early leaves nothing blocked.
func askClusterIDs(urls []string, tc *tls.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) iter.Seq[clusterAnswer] {
	return func(yield func(clusterAnswer) bool) {
		client := peerClient(tc, dial, 2*time.Second)
		defer client.CloseIdleConnections()
		answers := make(chan clusterAnswer, len(urls))
		for _, u := range urls {
			go func() { answers <- clusterAnswer{u, clusterIDAt(client, u)} }()
		}
		for range urls {
			if !yield(<-answers) {
				return
			}
		}
	}
}

// peerClient is an HTTP client for other members' peer ports: TLS with
// tc when set, connections through dial when set (tests inject faults),
// each request bounded by timeout (0: none).
func peerClient(tc *tls.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tc, DialContext: dial}}
}

// clusterIDAt asks the member at peer URL u for its cluster ID (0 when it
// does not answer one).
func clusterIDAt(client *http.Client, u string) uint64 {
	resp, err := client.Get(strings.TrimRight(u, "/") + clusterPath)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var got struct {
		ClusterID string `json:"clusterID"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&got)
	cid, perr := strconv.ParseUint(got.ClusterID, 16, 64)
	if err != nil || perr != nil || resp.StatusCode != http.StatusOK {
		return 0
	}
	return cid
}

// joinRequest is a new member's description of itself.
type joinRequest struct {
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	JoinID     string   `json:"joinID,omitempty"` // see memberRecord
}

// joinResponse tells a new member who it is and who the others are.
type joinResponse struct {
	ClusterID string         `json:"clusterID"` // hex
	MemberID  string         `json:"memberID"`  // hex
	Members   []memberRecord `json:"members"`
}

func (s *Server) serveJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "join: bad request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	m, err := s.AddMember(r.Context(), req)
	if err != nil {
		status := http.StatusInternalServerError
		var e *apierr.Error
		if errors.As(err, &e) && e.Code < 300 {
			status = http.StatusConflict
		}
		http.Error(w, "join: "+err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(joinResponse{
		ClusterID: strconv.FormatUint(s.id.ClusterID, 16),
		MemberID:  strconv.FormatUint(m.ID, 16),
		Members:   s.members.list(),
	})
}

// joined is the outcome of joining: this member's identity and the
// members to talk to.
type joined struct {
	clusterID, memberID uint64
	members             []memberRecord
}

// join asks the members at peerURLs, in turn, to add this member, until
// one does or ctx ends. A refusal (name or URL taken) is final.
func join(ctx context.Context, client *http.Client, peerURLs []string, self joinRequest, retry time.Duration) (joined, error) {
	body, err := json.Marshal(self)
	if err != nil {
		return joined{}, err
	}
	var errs []string
	for {
		for _, u := range peerURLs {
			j, err := joinOnce(ctx, client, strings.TrimRight(u, "/")+joinPath, body)
			if err == nil {
				return j, nil
			}
			var refused *joinRefused
			if errors.As(err, &refused) {
				return joined{}, err
			}
			errs = append(errs[:0], fmt.Sprintf("%s: %v", u, err))
		}
		select {
		case <-ctx.Done():
			return joined{}, fmt.Errorf("could not join through %s: %s", strings.Join(peerURLs, ", "), strings.Join(errs, "; "))
		case <-time.After(retry):
		}
	}
}

// joinRefused is a member's answer that retrying will not change.
type joinRefused struct{ msg string }

func (e *joinRefused) Error() string { return e.msg }

func joinOnce(ctx context.Context, client *http.Client, url string, body []byte) (joined, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return joined{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return joined{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	switch {
	case resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusBadRequest:
		return joined{}, &joinRefused{msg: fmt.Sprintf("%s refused to add this member: %s", url, strings.TrimSpace(string(b)))}
	case resp.StatusCode != http.StatusOK:
		return joined{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var jr joinResponse
	if err := json.Unmarshal(b, &jr); err != nil {
		return joined{}, fmt.Errorf("undecodable answer: %w", err)
	}
	cid, err1 := strconv.ParseUint(jr.ClusterID, 16, 64)
	mid, err2 := strconv.ParseUint(jr.MemberID, 16, 64)
	if err1 != nil || err2 != nil || cid == 0 || mid == 0 {
		return joined{}, fmt.Errorf("answer without valid IDs: %s", b)
	}
	return joined{clusterID: cid, memberID: mid, members: jr.Members}, nil
}
