package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// adminGet GETs path on m's peer port and decodes the JSON answer.
func adminGet(m *member, path string, out any) error {
	resp, err := client.Get("http://" + m.peerAddr() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// nameOf is the member's -name (the last one given).
func nameOf(m *member) string {
	name := ""
	for i := 0; i+1 < len(m.args); i++ {
		if m.args[i] == "-name" {
			name = m.args[i+1]
		}
	}
	return name
}

type adminMachine struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	ClientURL string `json:"clientURL"`
	PeerURL   string `json:"peerURL"`
}

// machineStates is name=state for each machine m's admin API lists.
func machineStates(m *member) (string, error) {
	var ms []adminMachine
	if err := adminGet(m, "/v2/admin/machines", &ms); err != nil {
		return "", err
	}
	var out []string
	for _, x := range ms {
		out = append(out, x.Name+"="+x.State)
	}
	return strings.Join(out, " "), nil
}

// The -cluster-* flags seed the admin configuration on the peer port; a
// member beyond -cluster-active-size joins as a learner; after kill -9 of
// a voting member the leader removes it once -cluster-remove-delay has
// passed and promotes the learner, and the cluster keeps serving.
func TestAdminAPIAndSelfHealing(t *testing.T) {
	flags := []string{"-cluster-active-size", "3", "-cluster-remove-delay", "2", "-cluster-sync-interval", "1"}
	a := newMember(t, append([]string{"-name", "a"}, flags...)...)
	a.start()
	var all = []*member{a}
	for _, name := range []string{"b", "c", "d"} {
		m := newMember(t, append([]string{"-name", name, "-peers", a.peerAddr()}, flags...)...)
		m.start()
		all = append(all, m)
	}
	d := all[3]
	if !strings.Contains(d.proc.Logs.String(), "role=learner") {
		t.Fatalf("d's log does not say it is a learner:\n%s", d.proc.Logs)
	}
	for _, m := range all {
		var cfg map[string]float64
		if err := adminGet(m, "/v2/admin/config", &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg["activeSize"] != 3 || cfg["removeDelay"] != 2 || cfg["syncInterval"] != 1 || len(cfg) != 3 {
			t.Fatalf("config on %s: %v", m.url, cfg)
		}
	}

	// Kill a voter that does not lead (a's view of who leads).
	var victim *member
	testutil.Eventually(t, 10*time.Second, "d listed as a learner", func() error {
		states, err := machineStates(a)
		if err != nil {
			return err
		}
		if !strings.Contains(states, "d=learner") || !strings.Contains(states, "=leader") {
			return fmt.Errorf("machines %s", states)
		}
		for _, m := range all[:3] {
			if name := nameOf(m); strings.Contains(states, name+"=follower") {
				victim = m
			}
		}
		return nil
	})
	victim.kill()
	killed := time.Now()
	testutil.Eventually(t, 20*time.Second, "the learner promoted in the victim's place", func() error {
		states, err := machineStates(d)
		if err != nil {
			return err
		}
		if strings.Contains(states, nameOf(victim)+"=") || strings.Contains(states, "learner") || strings.Count(states, "=") != 3 {
			return fmt.Errorf("machines %s", states)
		}
		return nil
	})
	if took := time.Since(killed); took < 2*time.Second {
		t.Fatalf("replaced after %s, before -cluster-remove-delay", took)
	}
	for i, m := range all {
		if m == victim {
			continue
		}
		r := m.mustDo(http.MethodPut, fmt.Sprintf("/after/%d", i), url.Values{"value": {"x"}})
		if r.Status != http.StatusCreated {
			t.Fatalf("PUT on %s after healing: %d %s", m.url, r.Status, r.Raw)
		}
	}
}
