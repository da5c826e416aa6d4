package cluster

import (
	"fmt"
	"strings"
	"time"
)

// WaitConverged polls until every running member's store has the same
// digest, and returns it; after timeout it fails the test and shows each
// member's store.
func (c *Cluster) WaitConverged(timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		digests, err := c.digests()
		if err == nil && len(digests) > 0 {
			same := true
			for _, d := range digests {
				same = same && d == digests[0]
			}
			if same {
				return digests[0]
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, m := range c.members {
				d, err := m.Digest()
				fmt.Fprintf(&b, "\n--- %s digest %s %v\n%s", m.Name, d, err, m.Dump())
			}
			c.t.Fatalf("cluster: members did not converge within %v:%s", timeout, b.String())
		}
		time.Sleep(c.opts.TickInterval)
	}
}

func (c *Cluster) digests() ([]string, error) {
	var out []string
	for _, m := range c.members {
		if !m.Running() {
			continue
		}
		d, err := m.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
