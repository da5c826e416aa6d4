package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUncleanKeyPathServedClean: a key path with //, /./ or /../ is served
// as the clean key, not redirected (a client following a redirect may turn
// a PUT into a GET and lose the write), through the whole server as built.
func TestUncleanKeyPathServedClean(t *testing.T) {
	m := newMember(t)
	m.start()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, m.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}
	status, out := send("PUT", "/v2/keys//dir/./a/../b", url.Values{"value": {"1"}}.Encode())
	if node, _ := out["node"].(map[string]any); status != http.StatusCreated || node["key"] != "/dir/b" {
		t.Fatalf("PUT of an unclean path: %d %v", status, out)
	}
	for _, p := range []string{"/v2/keys/dir/b", "/v2/keys/dir//b", "/v2/keys/x/../dir/./b"} {
		status, out := send("GET", p, "")
		if node, _ := out["node"].(map[string]any); status != http.StatusOK || node["value"] != "1" {
			t.Fatalf("GET %s: %d %v", p, status, out)
		}
	}
}
