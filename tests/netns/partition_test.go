package netns_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

var client = &http.Client{Timeout: 3 * time.Second}

// member is one arbor process in its own namespace.
type member struct {
	*testutil.Proc
	i   int
	ns  string
	url string // client URL
}

func startMember(t *testing.T, tp *topology, bin string, i int, peers string) *member {
	t.Helper()
	ns := tp.addHost(i)
	addr := fmt.Sprintf("%s%d", tp.subnet, i)
	args := []string{"netns", "exec", ns, bin, "-name", fmt.Sprintf("m%d", i),
		"-data-dir", filepath.Join(t.TempDir(), "data"),
		"-addr", addr + ":2379", "-peer-addr", addr + ":2380",
		"-peer-heartbeat-interval", "50", "-peer-election-timeout", "500"}
	if peers != "" {
		args = append(args, "-peers", peers)
	}
	// ip netns exec enters the namespace and execs arbor: the PID is
	// arbor's own.
	proc, err := testutil.StartProc(t, exec.Command("ip", args...))
	if err != nil {
		t.Fatal(err)
	}
	m := &member{Proc: proc, i: i, ns: ns, url: "http://" + addr + ":2379"}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("member m%d log:\n%s", i, m.Logs.String())
		}
	})
	return m
}

func get(u string) (int, string, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func put(u, value string) error {
	req, err := http.NewRequest(http.MethodPut, u, strings.NewReader(url.Values{"value": {value}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// leaderOf returns the number of the member m names as leader.
func leaderOf(tp *topology, m *member) (int, error) {
	code, body, err := get(m.url + "/v2/leader")
	if err != nil || code != http.StatusOK {
		return 0, fmt.Errorf("/v2/leader: %d %q %v", code, body, err)
	}
	var i int
	if _, err := fmt.Sscanf(strings.TrimSpace(body), "http://"+tp.subnet+"%d:2380", &i); err != nil {
		return 0, fmt.Errorf("/v2/leader %q: %v", body, err)
	}
	return i, nil
}

// listing is a member's recursive, sorted view of /w: its keys and the
// whole body (equal bodies mean equal trees and indexes).
func listing(m *member) (keys map[string]bool, body string, err error) {
	code, body, err := get(m.url + "/v2/keys/w?recursive=true&sorted=true")
	if err != nil || code != http.StatusOK {
		return nil, "", fmt.Errorf("m%d: %d %v", m.i, code, err)
	}
	var ev struct {
		Node struct {
			Nodes []struct{ Key string } `json:"nodes"`
		} `json:"node"`
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return nil, "", err
	}
	keys = map[string]bool{}
	for _, n := range ev.Node.Nodes {
		keys[n.Key] = true
	}
	return keys, body, nil
}

// The leader's host drops off the network while clients write to the
// other two: they elect a new leader and go on taking writes, the cut-off
// leader serves no quorum read, and once its link is back all three hold
// the same store, every acknowledged write in it.
func TestPartitionedLeaderHealsWithoutLosingWrites(t *testing.T) {
	tp := newTopology(t)
	bin, err := testutil.BuildArbor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ms := []*member{startMember(t, tp, bin, 1, "")}
	healthy := func(m *member) func() error {
		return func() error {
			code, body, err := get(m.url + "/health")
			if err != nil || code != http.StatusOK || !strings.Contains(body, "true") {
				return fmt.Errorf("%d %q %v", code, body, err)
			}
			return nil
		}
	}
	testutil.Eventually(t, 30*time.Second, "m1 healthy", healthy(ms[0]))
	for i := 2; i <= 3; i++ {
		m := startMember(t, tp, bin, i, tp.subnet+"1:2380")
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("m%d healthy", i), healthy(m))
		ms = append(ms, m)
	}
	var old int
	testutil.Eventually(t, 10*time.Second, "a leader", func() (err error) { old, err = leaderOf(tp, ms[0]); return err })
	var others []*member
	for _, m := range ms {
		if m.i != old {
			others = append(others, m)
		}
	}

	// One writer, alternating between the two members that stay up.
	var (
		mu    sync.Mutex
		acked []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("/w/%06d", seq)
			if put(others[seq%2].url+"/v2/keys"+key, fmt.Sprint(seq)) == nil {
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	testutil.Eventually(t, 10*time.Second, "writes before the cut", func() error {
		if n := count(); n < 20 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})

	tp.cut(old)
	cutAt := count()
	testutil.Eventually(t, 15*time.Second, "a new leader among the others", func() error {
		l, err := leaderOf(tp, others[0])
		if err != nil {
			return err
		}
		if l == old {
			return fmt.Errorf("still m%d", l)
		}
		return nil
	})
	testutil.Eventually(t, 15*time.Second, "writes after the cut", func() error {
		if n := count(); n < cutAt+20 {
			return fmt.Errorf("%d acknowledged since the cut", n-cutAt)
		}
		return nil
	})
	// From inside its own namespace, the cut-off leader refuses (or never
	// answers) a linearizable read.
	if _, err := exec.LookPath("curl"); err == nil {
		u := fmt.Sprintf("http://%s%d:2379/v2/keys/w?quorum=true", tp.subnet, old)
		out, err := exec.Command("ip", "netns", "exec", ms[old-1].ns, "curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", u).Output()
		if err == nil && string(out) == "200" {
			t.Fatalf("the cut-off leader answered a quorum read")
		}
	}
	close(stop)
	<-done

	tp.heal(old)
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()
	testutil.Eventually(t, 30*time.Second, "all three members converge", func() error {
		var first string
		for _, m := range ms {
			keys, body, err := listing(m)
			if err != nil {
				return err
			}
			for _, k := range want {
				if !keys[k] {
					return fmt.Errorf("m%d lacks acknowledged %s", m.i, k)
				}
			}
			if first == "" {
				first = body
			} else if body != first {
				return fmt.Errorf("m%d differs from m%d", m.i, ms[0].i)
			}
		}
		return nil
	})
	t.Logf("%d writes acknowledged, %d of them while m%d was cut off", len(want), len(want)-cutAt, old)
}
