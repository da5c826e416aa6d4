package compat

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
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
		// An index from the sequence so far: sometimes the key's own.
		idx := fmt.Sprintf("{idx:%d}", 1+r.IntN(i))
		var s step
		switch r.IntN(38) {
		case 0, 1, 2:
			s = put("", key, "value="+value())
		case 3:
			s = put("", key+"?prevExist=false", "value="+value())
		case 4:
			s = put("", key+"?prevExist=true", "value="+value())
		case 5:
			s = put("", key+"?dir=true", "")
		case 6:
			s = put("", key+"?dir=true&prevExist="+strconv.FormatBool(r.IntN(2) == 0), "")
		case 7:
			s = put("", key+"?prevValue="+value(), "value="+value())
		case 8:
			s = put("", key+"?prevIndex="+idx, "value="+value())
		case 9:
			s = put("", key+"?prevIndex="+idx+"&prevValue="+value(), "value="+value())
		case 10:
			s = put("", key+"?ttl="+strconv.Itoa(200+r.IntN(300)), "value="+value())
		case 11:
			s = put("", key+"?prevExist=true&refresh=true&ttl="+strconv.Itoa(200+r.IntN(300)), "")
		case 12:
			s = put("", key+"?ttl=&prevExist=true", "value="+value())
		case 13:
			s = post("", key, "value="+value())
		case 14:
			s = del("", key)
		case 15:
			s = del("", key+"?dir=true")
		case 16:
			s = del("", key+"?recursive=true")
		case 17:
			s = del("", key+"?prevValue="+value())
		case 18:
			s = del("", key+"?prevIndex="+idx)
		case 19:
			s = get("", key)
		case 20:
			s = get("", key+"?recursive=true&sorted=true")
		case 21:
			s = get("", key+"?sorted=true&quorum=true")
		case 22:
			s = put("", key+"?dir=true&ttl="+strconv.Itoa(200+r.IntN(300)), "")
		case 23:
			s = put("", key+"?dir=true&prevValue="+value(), "")
		case 24:
			s = put("", key+"?dir=true", "value="+value())
		case 25:
			s = post("", key+"?dir=true", "")
		case 26:
			s = del("", key+"?dir=true&recursive=true")
		case 27:
			s = put("", key+"?refresh=true&ttl="+strconv.Itoa(200+r.IntN(300)), "")
		case 28:
			s = put("", key+"?refresh=true", "value="+value())
		case 29:
			s = put("", key+"?noValueOnSuccess=true&prevExist="+strconv.FormatBool(r.IntN(2) == 0), "value="+value())
		case 30:
			s = put("", key+"?dir=true&prevExist=true&ttl=", "")
		case 31:
			s = del("", key+"?prevExist=true")
		case 32:
			s = get("", key+"?recursive=true")
		case 33:
			s = put("", key+"?ttl=", "value="+value())
		case 35:
			s = get("", prefix+fmt.Sprintf("?wait=true&recursive=true&waitIndex={idx:%d}", 1+r.IntN(sure)))
			s.deliberate = hiddenReplay
		case 34:
			s = put("", key+"?prevValue="+value()+"&prevExist=true&ttl="+strconv.Itoa(200+r.IntN(300)), "value="+value())
		default:
			s = get("", prefix+"?recursive=true&sorted=true")
		}
		if s.method == "" {
			s.method = http.MethodGet
		}
		s.name = fmt.Sprintf("%d-%s", i, s.method)
		steps = append(steps, s)
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
