package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postHello sends h to s's greeting endpoint and returns the status and body.
func postHello(t *testing.T, s *Server, h hello) (int, string) {
	t.Helper()
	body, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.serveHello(w, httptest.NewRequest(http.MethodPost, helloPath, bytes.NewReader(body)))
	return w.Code, w.Body.String()
}

// A greeting steers the greeted member's transport to the greeter's URLs
// (the registry stays as the log has it) and answers the greeted member's
// own. One from another cluster, from an unknown member, under another
// name or claiming another member's URL is refused, and steers nothing.
func TestGreetingSteersTransportAndRefusesStrangers(t *testing.T) {
	c := startTestCluster(t, 3, 10*time.Millisecond, 20)
	leader := c.waitStable()
	greeted := leader.srv
	mover := c.others(leader)[0]
	rec, _ := greeted.members.get(mover.srv.ID())
	other, _ := greeted.members.get(c.others(leader)[1].srv.ID())
	valid := mover.srv.selfHello()
	newURL := []string{"http://127.0.0.1:1"}
	with := func(f func(h *hello)) hello {
		h := valid
		h.PeerURLs = newURL
		f(&h)
		return h
	}

	for _, tc := range []struct {
		name  string
		h     hello
		cause string
	}{
		{"another cluster", with(func(h *hello) { h.ClusterID = "1234" }), "is of cluster 1234"},
		{"unknown member", with(func(h *hello) { h.MemberID = "1234" }), "no member 1234"},
		{"another name", with(func(h *hello) { h.Name = "someone" }), `is named "` + rec.Name + `"`},
		{"another member's peer URL", with(func(h *hello) { h.PeerURLs = other.PeerURLs }), "belongs to member"},
		{"no peer URL", with(func(h *hello) { h.PeerURLs = nil }), "needs the cluster ID"},
		{"bad ID", with(func(h *hello) { h.MemberID = "xyz" }), "needs the cluster ID"},
	} {
		code, body := postHello(t, greeted, tc.h)
		if code != http.StatusConflict || !strings.Contains(body, tc.cause) {
			t.Errorf("%s: %d %q, want 409 and %q", tc.name, code, body, tc.cause)
		}
	}
	if p, _ := greeted.tr.Load().Peer(rec.ID); !slices.Equal(p.URLs, rec.PeerURLs) {
		t.Fatalf("a refused greeting steered the transport to %v", p.URLs)
	}

	code, body := postHello(t, greeted, with(func(*hello) {}))
	var answer hello
	if err := json.Unmarshal([]byte(body), &answer); code != http.StatusOK || err != nil {
		t.Fatalf("greeting: %d %s", code, body)
	}
	if answer.MemberID != strconv.FormatUint(greeted.ID(), 16) || !slices.Equal(answer.PeerURLs, greeted.cfg.PeerURLs) {
		t.Fatalf("answer %+v, want the greeted member's ID and peer URLs", answer)
	}
	if p, _ := greeted.tr.Load().Peer(rec.ID); !slices.Equal(p.URLs, newURL) {
		t.Fatalf("transport sends to %v after the greeting, want %v", p.URLs, newURL)
	}
	if got, _ := greeted.members.get(rec.ID); !got.sameAddresses(rec) {
		t.Fatalf("a greeting changed the registry: %+v, was %+v", got, rec)
	}
}
