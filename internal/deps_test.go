package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The pure layers must not reach the network stack, even indirectly: the
// store is deterministic state, wal and snap are on-disk formats.
func TestPureLayersAvoidNetHTTP(t *testing.T) {
	for _, pkg := range []string{"store", "wal", "snap", "apierr", "metric"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/arbor-kv/arbor/internal/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "net/http" || strings.HasPrefix(dep, "github.com/arbor-kv/arbor/internal/raftnode") ||
				strings.HasPrefix(dep, "github.com/prometheus/") {
				t.Errorf("internal/%s depends on %s", pkg, dep)
			}
		}
	}
}
