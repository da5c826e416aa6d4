package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postJoin sends req to s's join endpoint and returns the status and body.
func postJoin(t *testing.T, s *Server, req joinRequest) (int, string) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.serveJoin(w, httptest.NewRequest(http.MethodPost, joinPath, bytes.NewReader(body)))
	return w.Code, w.Body.String()
}

// A member asking to be moved must name itself by ID and name, and may not
// take another member's peer URL; those refusals are final (409, which
// join does not retry). A member this one does not know is worth asking
// another about (500); a removed one is refused.
func TestMoveMemberRefusals(t *testing.T) {
	c := startTestCluster(t, 3, 10*time.Millisecond, 20)
	leader := c.waitStable()
	mover := c.others(leader)[0]
	rec, _ := leader.srv.members.get(mover.srv.ID())
	other, _ := leader.srv.members.get(c.others(leader)[1].srv.ID())
	hexID := strconv.FormatUint(rec.ID, 16)
	newURL := []string{"http://127.0.0.1:1"}

	for _, tc := range []struct {
		name   string
		req    joinRequest
		status int
		cause  string
	}{
		{"another name", joinRequest{MemberID: hexID, Name: "someone", PeerURLs: newURL}, http.StatusConflict, `is named "` + rec.Name + `"`},
		{"another member's peer URL", joinRequest{MemberID: hexID, Name: rec.Name, PeerURLs: other.PeerURLs}, http.StatusConflict, "belongs to member"},
		{"no peer URL", joinRequest{MemberID: hexID, Name: rec.Name}, http.StatusConflict, "needs its ID"},
		{"bad ID", joinRequest{MemberID: "xyz", Name: rec.Name, PeerURLs: newURL}, http.StatusConflict, "needs its ID"},
		{"unknown ID", joinRequest{MemberID: "1234", Name: rec.Name, PeerURLs: newURL}, http.StatusInternalServerError, "no member 1234"},
	} {
		code, body := postJoin(t, leader.srv, tc.req)
		if code != tc.status || !strings.Contains(body, tc.cause) {
			t.Errorf("%s: %d %q, want %d and %q", tc.name, code, body, tc.status, tc.cause)
		}
	}
	if got, _ := leader.srv.members.get(rec.ID); !got.sameAddresses(rec) {
		t.Fatalf("a refused move changed the record: %+v, was %+v", got, rec)
	}

	// A move made through a follower is in the others' registries (the
	// mover, still at its old address, may not hear of it).
	via := c.others(leader)[1]
	code, body := postJoin(t, via.srv, joinRequest{MemberID: hexID, Name: rec.Name, PeerURLs: newURL, ClientURLs: []string{"http://127.0.0.1:2"}})
	if code != http.StatusOK || !strings.Contains(body, `"memberID":"`+hexID+`"`) {
		t.Fatalf("move through a follower: %d %s", code, body)
	}
	for _, m := range c.others(mover) {
		waitFor(t, m.srv.cfg.Name+" to record the move", func() bool {
			got, _ := m.srv.members.get(rec.ID)
			return got.PeerURLs[0] == newURL[0] && got.ClientURLs[0] == "http://127.0.0.1:2" && got.Name == rec.Name
		})
	}

	if err := leader.srv.RemoveMember(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	code, body = postJoin(t, leader.srv, joinRequest{MemberID: hexID, Name: rec.Name, PeerURLs: []string{"http://127.0.0.1:3"}})
	if code != http.StatusConflict || !strings.Contains(body, "was removed") {
		t.Fatalf("move of a removed member: %d %q", code, body)
	}
}
