package compat

import (
	"strings"
	"testing"
	"time"
)

// These check the comparison machinery itself, without servers: a
// normalisation that hid real differences would make every other test in
// the package pass for the wrong reason.

func mustParse(t *testing.T, s string) any {
	t.Helper()
	v, err := parseOrdered([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return v
}

func TestParseOrderedKeepsFieldOrder(t *testing.T) {
	v := mustParse(t, `{"b":1,"a":{"z":true,"y":null},"nodes":[{"key":"/k","value":"v"}]}`)
	got := fieldOrders(v, func(s string) string { return s })
	want := map[string]string{"top": "b,a,nodes", "top.nodes[/k]": "key,value"}
	if d := diffMaps(want, got); d != "" {
		t.Fatalf("field orders differ from the wire:\n%s", d)
	}
	if c := canonical(v); c != `{"a":{"y":null,"z":true},"b":1,"nodes":[{"key":"/k","value":"v"}]}` {
		t.Fatalf("canonical = %s", c)
	}
	if _, err := parseOrdered([]byte(`{"a":1} {"b":2}`)); err == nil {
		t.Fatal("trailing data accepted")
	}
}

func TestNormalizeIndexesAndMarkers(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	etcd := &seqState{s: &server{clientURL: "http://e"}, offset: 10}
	arbor := &seqState{s: &server{clientURL: "http://a"}, offset: 0}
	a := etcd.normalize(mustParse(t, `{"action":"get","node":{"key":"/q/00000000000000000013","modifiedIndex":13,"createdIndex":11,
		"expiration":"2026-01-01T00:01:00Z","ttl":60,"nodes":[{"key":"/b"},{"key":"/a"}]}}`), now)
	b := arbor.normalize(mustParse(t, `{"action":"get","node":{"key":"/q/00000000000000000003","modifiedIndex":3,"createdIndex":1,
		"expiration":"2026-01-01T00:00:59.5Z","ttl":59,"nodes":[{"key":"/a"},{"key":"/b"}]}}`), now)
	reconcileTTL(a, b)
	if ca, cb := canonical(a), canonical(b); ca != cb {
		t.Fatalf("equivalent answers differ after normalising:\n%s\n%s", ca, cb)
	}
	if !strings.Contains(canonical(a), `"<expiration in the future>"`) {
		t.Fatalf("expiration not replaced: %s", canonical(a))
	}

	// What normalising must not hide.
	for _, tc := range []struct{ name, etcd, arbor string }{
		{"index off by one", `{"index":12}`, `{"index":3}`},
		{"ttl off by two", `{"ttl":60}`, `{"ttl":58}`},
		{"expiration past vs future", `{"expiration":"2025-01-01T00:00:00Z"}`, `{"expiration":"2027-01-01T00:00:00Z"}`},
		{"zero index vs current", `{"index":0}`, `{"index":5}`},
		{"value", `{"value":"1"}`, `{"value":"2"}`},
	} {
		x, y := etcd.normalize(mustParse(t, tc.etcd), now), arbor.normalize(mustParse(t, tc.arbor), now)
		reconcileTTL(x, y)
		if canonical(x) == canonical(y) {
			t.Errorf("%s: normalising hid the difference (%s)", tc.name, canonical(x))
		}
	}

	// sorted=true keeps the order, so a wrong order shows.
	etcd.sorted, arbor.sorted = true, true
	x := etcd.normalize(mustParse(t, `{"nodes":[{"key":"/a"},{"key":"/b"}]}`), now)
	y := arbor.normalize(mustParse(t, `{"nodes":[{"key":"/b"},{"key":"/a"}]}`), now)
	if canonical(x) == canonical(y) {
		t.Error("sorted listing: order difference hidden")
	}
}

func TestNormIndexCause(t *testing.T) {
	st := &seqState{offset: 100, prevIndex: true}
	// Only the last bracket, the index comparison, is rewritten; the
	// runner sets prevIndex only for requests that carry one, so a
	// value-only cause never gets here.
	for _, tc := range []struct{ in, want string }{
		{"[1 != 105]", "[1 != 5]"},
		{"[nope != 5] [1 != 105]", "[nope != 5] [1 != 5]"},
		{"Key not found", "Key not found"},
	} {
		if got := st.normIndexCause(tc.in); got != tc.want {
			t.Errorf("normIndexCause(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A prevIndex sent as {idx:N} went out as the server's own index.
	st.prevIndexTemplate = true
	if got, want := st.normIndexCause("[nope != 5] [103 != 105]"), "[nope != 5] [3 != 5]"; got != want {
		t.Errorf("templated prevIndex: normIndexCause = %q, want %q", got, want)
	}
}

func TestExpandTemplates(t *testing.T) {
	st := &seqState{offset: 41}
	if got := st.expand("/v2/keys/q/{key:2}?waitIndex={idx:3}"); got != "/v2/keys/q/00000000000000000043?waitIndex=44" {
		t.Fatalf("expand = %s", got)
	}
}

func TestKnownDifferencesPatternsAreValid(t *testing.T) {
	for k, reason := range knownDifferences {
		if !strings.Contains(k.step, "/") {
			t.Errorf("entry %v: step must be sequence/step or a pattern over those", k)
		}
		if reason == "" || strings.Contains(reason, "\n") {
			t.Errorf("entry %v: needs a one-line reason", k)
		}
		knownMatches(k, "x/y", "status") // panics on a malformed pattern
	}
}

func TestWireMatchesEncodingJSON(t *testing.T) {
	// What encoding/json writes round-trips exactly...
	for _, body := range []string{
		`{"action":"set","node":{"key":"/a","value":"\u003ca\u003e\u0026\u2028é\ufffd","modifiedIndex":3}}`,
		`{"nodes":[],"ttl":-1,"dir":true,"x":null}`,
	} {
		if w := wire(mustParse(t, body)); w != body {
			t.Errorf("wire(%s) = %s", body, w)
		}
	}
	// ...and other spellings of the same content do not.
	for _, body := range []string{
		`{"value":"<a>"}`,
		`{"value":"\u00e9"}`,
		`{ "value":"x"}`,
	} {
		if w := wire(mustParse(t, body)); w == body {
			t.Errorf("wire accepted a spelling encoding/json does not write: %s", body)
		}
	}
}
