package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// A 3-member cluster forms from a discovery token that another arbor hands
// out (GET /new?size=3) and serves; a fourth member with the used token is
// refused with a clear message.
func TestClusterFormedByDiscovery(t *testing.T) {
	disco := newMember(t, "-name", "disco")
	disco.start()
	resp, err := http.Get(disco.url + "/new?size=3")
	if err != nil {
		t.Fatal(err)
	}
	tokenBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := string(tokenBytes)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(token, disco.url+"/v2/keys/_etcd/registry/") {
		t.Fatalf("/new: %d %q", resp.StatusCode, token)
	}

	var ms []*member
	for _, name := range []string{"m1", "m2", "m3"} {
		m := newMember(t, "-name", name, "-discovery", token)
		if err := m.launch(); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	for _, m := range ms {
		m.waitHealthy(30 * time.Second)
	}
	for _, m := range ms {
		testutil.Eventually(t, 10*time.Second, "members on "+m.url, func() error {
			if got := m.memberNames(t); strings.Join(got, ",") != "m1,m2,m3" {
				return fmt.Errorf("members %v", got)
			}
			return nil
		})
	}
	// Every member published its client URL (founders start without).
	testutil.Eventually(t, 10*time.Second, "/v2/machines", func() error {
		_, body, err := ms[0].getText("/v2/machines")
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !strings.Contains(body, m.url) {
				return fmt.Errorf("%q lacks %s", body, m.url)
			}
		}
		return nil
	})
	r := ms[1].mustDo(http.MethodPut, "/formed", url.Values{"value": {"yes"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.Status, r.Raw)
	}
	for _, m := range ms {
		if r, err := quorumGet(m, "/formed"); err != nil || nodeOf(r)["value"] != "yes" {
			t.Fatalf("quorum GET on %s: %v %+v", m.url, err, r)
		}
	}

	late := newMember(t, "-name", "m4", "-discovery", token)
	err, out := late.runToExit(30 * time.Second)
	if err == nil || !strings.Contains(out, "token") {
		t.Fatalf("a fourth member with the used token: exit %v\n%s", err, out)
	}
	t.Logf("refused: %s", lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// A member started again with its -discovery flags but without its data
// (a wiped disk; cloud-config keeps the token) finds itself registered. It
// must not start Raft again under its old ID with an empty log: it would
// have forgotten its votes and the entries it acknowledged, and the first
// member of a token without a size would even found a cluster of its own.
// It joins the running cluster through the other registered members, in
// place of its old self.
func TestDiscoveryMemberBackWithoutDataJoinsAsNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sized  bool
		victim int
	}{
		{"founder of a sized token", true, 2},
		{"first member of a token without size", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disco := newMember(t, "-name", "disco")
			disco.start()
			token := disco.url + "/v2/keys/_etcd/registry/tok"
			if tc.sized {
				disco.mustDo(http.MethodPut, "/_etcd/registry/tok/_config/size", url.Values{"value": {"3"}})
			} else {
				disco.mustDo(http.MethodPut, "/_etcd/registry/tok", url.Values{"dir": {"true"}})
			}
			var ms []*member
			for _, name := range []string{"m1", "m2", "m3"} {
				m := newMember(t, "-name", name, "-discovery", token)
				if err := m.launch(); err != nil {
					t.Fatal(err)
				}
				if !tc.sized {
					m.waitHealthy(30 * time.Second) // later ones join the earlier
				}
				ms = append(ms, m)
			}
			for _, m := range ms {
				m.waitHealthy(30 * time.Second)
			}
			ms[1].mustDo(http.MethodPut, "/before", url.Values{"value": {"1"}})

			ms[tc.victim].restartWiped()
			for _, m := range ms {
				testutil.Eventually(t, 10*time.Second, "one cluster on "+m.url, func() error {
					r, err := quorumGet(m, "/before")
					if err != nil || nodeOf(r)["value"] != "1" {
						return fmt.Errorf("quorum GET /before: %v %+v", err, r)
					}
					if got := m.memberNames(t); strings.Join(got, ",") != "m1,m2,m3" {
						return fmt.Errorf("members %v", got)
					}
					return nil
				})
			}
		})
	}
}
