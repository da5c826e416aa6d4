package compat

import "testing"

// TestInfo compares the endpoints that describe the member and cluster.
func TestInfo(t *testing.T) {
	t.Parallel()
	p := startPair(t)
	p.run(t, sequence{name: "info", steps: []step{
		// Deliberate: arbor reports etcdserver 2.3.8 and adds "arbor".
		{name: "version", path: "/version", compare: shapeOnly, allowExtra: []string{"arbor"}},
		get("health", "/health"),
		{name: "stats-store", path: "/v2/stats/store", compare: shapeOnly},
		// Deliberate: arbor adds "role" (voter or learner, see DESIGN.md).
		{name: "stats-self", path: "/v2/stats/self", compare: shapeOnly, allowExtra: []string{"role"}},
		// Deliberate: the leader stats may be shaped unlike etcd 3.4's (etcd
		// 0.4 and 3.4 already disagree), so only status and type count.
		{name: "stats-leader", path: "/v2/stats/leader", compare: statusOnly},
		get("members", "/v2/members"),
		get("members-slash", "/v2/members/"),
		get("member-by-id", "/v2/members/8e9e05c52164694d"),
		get("machines", "/v2/machines"),
		get("machines-slash", "/v2/machines/"),
		get("stats-unknown", "/v2/stats/nope"),
		req("delete-member-unknown", "DELETE", "/v2/members/1234", ""),
		req("head-machines", "HEAD", "/v2/machines", ""),
		req("post-health", "POST", "/health", ""),
	}})
}
