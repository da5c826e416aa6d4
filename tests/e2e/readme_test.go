package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestReadmeCurlExamples runs every curl line of the README's quick start
// against a fresh member, with the default ports mapped to the test's own.
func TestReadmeCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "curl ") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 10 {
		t.Fatalf("found only %d curl lines in README.md", len(lines))
	}
	m := newMember(t)
	m.start()
	addr := strings.TrimPrefix(m.url, "http://")
	run := func(ctx context.Context, line string) (string, error) {
		line = strings.NewReplacer("127.0.0.1:4001", addr, "127.0.0.1:2379", addr).Replace(line)
		out, err := exec.CommandContext(ctx, "bash", "-c", line+" --max-time 10 -sS").Output()
		return string(out), err
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.Contains(line, "wait=true") && i+1 < len(lines) {
			// A watch: start it, make the change on the next line, and
			// expect the watch to answer with that change.
			type res struct {
				out string
				err error
			}
			done := make(chan res, 1)
			go func() { out, err := run(context.Background(), line); done <- res{out, err} }()
			waitWatchers(t, m, 1)
			if _, err := run(context.Background(), lines[i+1]); err != nil {
				t.Fatalf("%s: %v", lines[i+1], err)
			}
			r := <-done
			if r.err != nil || !strings.Contains(r.out, `"action":"set"`) {
				t.Fatalf("%s: watch answered %q, %v", line, r.out, r.err)
			}
			i++
			continue
		}
		out, err := run(context.Background(), line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if strings.Contains(line, "/v2/machines") {
			if !strings.HasPrefix(out, "http://") {
				t.Fatalf("%s: %q", line, out)
			}
			continue
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(out), &body); err != nil {
			t.Fatalf("%s: not JSON: %q", line, out)
		}
		if _, isErr := body["errorCode"]; isErr {
			t.Fatalf("%s: error %s", line, out)
		}
	}
}

// waitWatchers waits until the member reports n open watchers.
func waitWatchers(t *testing.T, m *member, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(m.url + "/v2/stats/store")
		if err == nil {
			var st map[string]any
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st["watchers"] == n {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("member never reported %v watchers", n)
}
