package compat

import (
	"fmt"
	"path"
	"sort"
	"sync"
)

// knownKey names the steps and aspect a known difference covers. step is
// "sequence/step", or a path.Match pattern over those names ("*/*" matches
// every step); aspect is one that compareExchange reports ("status",
// "header Content-Type", "header X-Etcd-Index", "body", "field order",
// "trailing newline", "shape", ...), or "*" for all of them.
type knownKey struct {
	step   string
	aspect string
}

// knownDifferences are the places where arbor still answers differently
// from etcd 3.4 and should not (deliberate differences are not here: the
// steps involved compare less, and say why). A difference an entry covers
// is logged with its reason instead of failing the test; every other
// aspect of the same steps is still enforced. When a fix lands, delete the
// entry and the check is enforced again. An entry that matched steps which
// ran but no longer reproduces is listed at the end of the run (a failure
// with COMPAT_STRICT=1).
var knownDifferences = map[knownKey]string{
	{"methods/put-members", "header Allow"}: "etcd 3.4 answers a PUT of /v2/members without an ID with a bare 405 (no Allow); arbor says what the path takes: Allow: GET,POST",
}

// deliberateDifferences are differences Arbor keeps on purpose; they are
// matched like knownDifferences but are not to be fixed.
var deliberateDifferences = map[knownKey]string{
	// etcd 3.4's CompareAndDelete counts through a deferred check of an
	// error variable that its compare-failure return never sets, so a
	// failed CAD counts as a success. Arbor counts it as a failure.
	{"stats/cad-fail", "counter compareAndDeleteFail"}:    "etcd 3.4 +0, arbor +1 for DELETE ?prevValue=<wrong> (412): etcd's counter bug",
	{"stats/cad-fail", "counter compareAndDeleteSuccess"}: "etcd 3.4 +1, arbor +0 for DELETE ?prevValue=<wrong> (412): etcd's counter bug",

	// etcd's http.ServeMux answers a key path that is not clean (//, /./,
	// /../) with 301 to the cleaned path and does nothing else, so a Go
	// client following it turns a PUT into a GET and loses the write; arbor
	// cleans the key itself and serves (or writes) it.
	{"paths/get-double-slash", "*"}: "etcd 3.4: 301 Moved Permanently, Location /v2/keys/esc/trail, text/html body; arbor: 200 with the key",
	{"paths/get-dot", "*"}:          "etcd 3.4: 301 to /v2/keys/esc/trail; arbor: 200 with the key",
	{"paths/get-dotdot", "*"}:       "etcd 3.4: 301 to /v2/keys/esc/trail; arbor: 200 with the key",
	{"paths/put-double-slash", "*"}: "etcd 3.4: 301 to /v2/keys/esc/trail2 without writing; arbor: 201 and writes /esc/trail2",
}

func init() {
	for k, v := range deliberateDifferences {
		knownDifferences[k] = "deliberate: " + v
	}
}

var known struct {
	mu   sync.Mutex
	seen map[knownKey]bool // the entry's pattern matched a step that ran
	hit  map[knownKey]bool // the entry covered a difference
}

func knownMatches(k knownKey, step, aspect string) bool {
	ok, err := path.Match(k.step, step)
	if err != nil {
		panic(fmt.Sprintf("knownDifferences: bad pattern %q: %v", k.step, err))
	}
	return ok && (k.aspect == "*" || k.aspect == aspect)
}

// markSeen records that step ran, for the stale-entry report.
func markSeen(step string) {
	known.mu.Lock()
	defer known.mu.Unlock()
	if known.seen == nil {
		known.seen = map[knownKey]bool{}
	}
	for k := range knownDifferences {
		if knownMatches(knownKey{k.step, "*"}, step, "*") {
			known.seen[k] = true
		}
	}
}

// lookupKnown finds the entry covering a difference in aspect of step.
func lookupKnown(step, aspect string) (knownKey, string, bool) {
	// Deterministic choice when several entries match: the most specific
	// (longest) pattern first.
	var keys []knownKey
	for k := range knownDifferences {
		if knownMatches(k, step, aspect) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return knownKey{}, "", false
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i].step) != len(keys[j].step) {
			return len(keys[i].step) > len(keys[j].step)
		}
		return keys[i].aspect > keys[j].aspect
	})
	known.mu.Lock()
	defer known.mu.Unlock()
	if known.hit == nil {
		known.hit = map[knownKey]bool{}
	}
	known.hit[keys[0]] = true
	return keys[0], knownDifferences[keys[0]], true
}

// staleKnownDifferences lists the entries whose steps ran without the
// difference showing.
func staleKnownDifferences() []string {
	known.mu.Lock()
	defer known.mu.Unlock()
	var out []string
	for k, reason := range knownDifferences {
		if known.seen[k] && !known.hit[k] {
			out = append(out, fmt.Sprintf("{%q, %q}: %s", k.step, k.aspect, reason))
		}
	}
	sort.Strings(out)
	return out
}
