package compat

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRandomSequences replays seeded random mixes of keys-API requests on
// a handful of overlapping keys (files, directories, hidden names, in-order
// children, TTLs, every condition), where the hand-written tables of
// TestKeys could miss a combination. The seeds are fixed, so a failure
// reproduces; COMPAT_RANDOM_SEEDS=N runs N seeds instead of the default
// few (a longer local hunt), COMPAT_RANDOM_STEPS the steps per seed.
func TestRandomSequences(t *testing.T) {
	t.Parallel()
	seeds := envInt(t, "COMPAT_RANDOM_SEEDS", 8)
	steps := envInt(t, "COMPAT_RANDOM_STEPS", 150)
	p := startPair(t)
	for seed := range seeds {
		seq := randomSequence(uint64(seed), steps)
		t.Run(seq.name, func(t *testing.T) { p.run(t, seq) })
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// randomKeys overlap on purpose: files under would-be directories,
// directories under would-be files, hidden names at two depths.
var randomKeys = []string{"/a", "/b", "/a/x", "/a/y", "/a/x/z", "/_h", "/a/_h", "/b/q"}

// randomOp is one kind of request a random step makes, on the step's key
// (or the sequence's prefix); see randomSequence for the placeholders.
type randomOp struct {
	method      string
	query, form string
	onPrefix    bool
	deliberate  func(ref *exchange) string
}

var randomOps = []randomOp{
	{method: http.MethodPut, form: "value={v}"},
	{method: http.MethodPut, form: "value={v}"},
	{method: http.MethodPut, form: "value={v}"},
	{method: http.MethodPut, query: "?prevExist=false", form: "value={v}"},
	{method: http.MethodPut, query: "?prevExist=true", form: "value={v}"},
	{method: http.MethodPut, query: "?dir=true"},
	{method: http.MethodPut, query: "?dir=true&prevExist={b}"},
	{method: http.MethodPut, query: "?prevValue={v}", form: "value={v}"},
	{method: http.MethodPut, query: "?prevIndex={i}", form: "value={v}"},
	{method: http.MethodPut, query: "?prevIndex={i}&prevValue={v}", form: "value={v}"},
	{method: http.MethodPut, query: "?ttl={t}", form: "value={v}"},
	{method: http.MethodPut, query: "?prevExist=true&refresh=true&ttl={t}"},
	{method: http.MethodPut, query: "?ttl=&prevExist=true", form: "value={v}"},
	{method: http.MethodPost, form: "value={v}"},
	{method: http.MethodDelete},
	{method: http.MethodDelete, query: "?dir=true"},
	{method: http.MethodDelete, query: "?recursive=true"},
	{method: http.MethodDelete, query: "?prevValue={v}"},
	{method: http.MethodDelete, query: "?prevIndex={i}"},
	{method: http.MethodGet},
	{method: http.MethodGet, query: "?recursive=true&sorted=true"},
	{method: http.MethodGet, query: "?sorted=true&quorum=true"},
	{method: http.MethodPut, query: "?dir=true&ttl={t}"},
	{method: http.MethodPut, query: "?dir=true&prevValue={v}"},
	{method: http.MethodPut, query: "?dir=true", form: "value={v}"},
	{method: http.MethodPost, query: "?dir=true"},
	{method: http.MethodDelete, query: "?dir=true&recursive=true"},
	{method: http.MethodPut, query: "?refresh=true&ttl={t}"},
	{method: http.MethodPut, query: "?refresh=true", form: "value={v}"},
	{method: http.MethodPut, query: "?noValueOnSuccess=true&prevExist={b}", form: "value={v}"},
	{method: http.MethodPut, query: "?dir=true&prevExist=true&ttl="},
	{method: http.MethodDelete, query: "?prevExist=true"},
	{method: http.MethodGet, query: "?recursive=true"},
	{method: http.MethodPut, query: "?ttl=", form: "value={v}"},
	{method: http.MethodPut, query: "?prevValue={v}&prevExist=true&ttl={t}", form: "value={v}"},
	// A watch from the history, at an index sure to exist: never blocks.
	{method: http.MethodGet, query: "?wait=true&recursive=true&waitIndex={w}", onPrefix: true, deliberate: hiddenReplay},
	{method: http.MethodGet, query: "?recursive=true&sorted=true", onPrefix: true},
	{method: http.MethodGet, query: "?recursive=true&sorted=true", onPrefix: true},
}

var randomPlaceholder = regexp.MustCompile(`\{[vitbw]\}`)

// randomSequence builds seed's sequence of n steps under its own prefix,
// so sequences sharing a pair of servers do not meet.
func randomSequence(seed uint64, n int) sequence {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	prefix := fmt.Sprintf("/v2/keys/rnd%d", seed)
	// The first write anchors the index normalisation and must succeed.
	steps := []step{put("0-anchor", prefix+"/anchor", "value=v0")}
	value := func() string { return "v" + strconv.Itoa(r.IntN(4)) }
	// sure counts the writes that cannot fail (the anchor key is no random
	// step's target): the sequence's index is at least that, so a watch
	// from any index up to it answers from the history at once.
	sure := 1
	for i := 1; i < n; i++ {
		key := prefix + randomKeys[r.IntN(len(randomKeys))]
		if i%10 == 0 {
			steps = append(steps, put(fmt.Sprintf("%d-anchor", i), prefix+"/anchor", "value="+value()))
			sure++
			continue
		}
		idx := 1 + r.IntN(i)
		op := randomOps[r.IntN(len(randomOps))]
		target := key
		if op.onPrefix {
			target = prefix
		}
		// Placeholders are filled left to right, path then form: {v} a
		// value, {t} a TTL, {b} a bool and {w} an index sure to exist, each
		// drawn afresh; {i} the step's index from the sequence so far
		// (sometimes the key's own).
		fill := func(tmpl string) string {
			return randomPlaceholder.ReplaceAllStringFunc(tmpl, func(ph string) string {
				switch ph {
				case "{v}":
					return value()
				case "{i}":
					return fmt.Sprintf("{idx:%d}", idx)
				case "{t}":
					return strconv.Itoa(200 + r.IntN(300))
				case "{b}":
					return strconv.FormatBool(r.IntN(2) == 0)
				default: // {w}
					return fmt.Sprintf("{idx:%d}", 1+r.IntN(sure))
				}
			})
		}
		steps = append(steps, step{
			name: fmt.Sprintf("%d-%s", i, op.method), method: op.method,
			path: target + fill(op.query), form: fill(op.form), deliberate: op.deliberate,
		})
	}
	steps = append(steps, get(fmt.Sprintf("%d-final", n), prefix+"?recursive=true&sorted=true"))
	return sequence{name: fmt.Sprintf("rnd%d", seed), steps: steps}
}

// hiddenReplay names the deliberate difference when etcd answered a
// recursive watch from its history with an event on a hidden key: its
// replay skips no hidden names, its live delivery does; arbor applies the
// live rule to both (internal/store's doc, "Where it differs from etcd 3.4
// on purpose").
func hiddenReplay(ref *exchange) string {
	var ev struct {
		Node struct{ Key string }
	}
	if json.Unmarshal(ref.body, &ev) != nil || !strings.Contains(ev.Node.Key, "/_") {
		return ""
	}
	return "etcd replayed an event on hidden key " + ev.Node.Key + " to a recursive watch; arbor skips it, as both do live"
}
