package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// Events shaped as etcd 3.4 sends them, plus variations a different server
// might produce (field order, whitespace, escapes, extra fields).
var eventSamples = []struct {
	raw   string
	index uint64
	value string
}{
	{`{"action":"set","node":{"key":"/bench/00000001","value":"000000000007abc","modifiedIndex":42,"createdIndex":42},"prevNode":{"key":"/bench/00000001","value":"x","modifiedIndex":17,"createdIndex":3}}`, 42, "000000000007abc"},
	{`{"action":"set","prevNode":{"modifiedIndex":17,"value":"old"},"node":{"createdIndex":9,"modifiedIndex":9,"value":"v"}}`, 9, "v"},
	{" {\n \"action\" : \"create\" ,\n \"node\" : { \"modifiedIndex\" : 7 , \"value\" : \"a\\\"}b\" } }", 7, `a\"}b`},
	{`{"action":"delete","node":{"key":"/bench/x","modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/bench/x","value":"{[","modifiedIndex":4}}`, 5, ""},
	{`{"action":"set","node":{"key":"/k\\","dir":false,"nodes":[{"a":[1,2,{"b":"]"}]}],"ttl":null,"modifiedIndex":18446744073709551615}}`, 18446744073709551615, ""},
	{`{"extra":{"node":{"modifiedIndex":1}},"node":{"modifiedIndex":2,"value":""}}`, 2, ""},
}

func TestParseEvent(t *testing.T) {
	for _, s := range eventSamples {
		ev, err := parseEvent([]byte(s.raw))
		if err != nil {
			t.Errorf("%s: %v", s.raw, err)
			continue
		}
		if ev.index != s.index || string(ev.value) != s.value {
			t.Errorf("%s: got index %d value %q, want %d %q", s.raw, ev.index, ev.value, s.index, s.value)
		}
	}
}

func TestParseEventRejects(t *testing.T) {
	for _, raw := range []string{
		``,
		`[]`,
		`{"action":"set"}`,
		`{"node":{"value":"x"}}`,
		`{"node":{"modifiedIndex":-1}}`,
		`{"node":{"modifiedIndex":"12"}}`,
		`{"node":{"modifiedIndex":1`,
		`{"node" {"modifiedIndex":1}}`,
		`{"node":{"modifiedIndex":1} "x":1}`,
		`{node:{"modifiedIndex":1}}`,
	} {
		if ev, err := parseEvent([]byte(raw)); err == nil {
			t.Errorf("%q: accepted as %+v", raw, ev)
		}
	}
}

// TestParseEventAgreesWithEncodingJSON encodes random events with
// encoding/json (which escapes <, >, & and control characters) and checks
// the scanner finds the same index and the same (raw) value.
func TestParseEventAgreesWithEncodingJSON(t *testing.T) {
	type node struct {
		Key           string `json:"key"`
		Value         string `json:"value,omitempty"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
		CreatedIndex  uint64 `json:"createdIndex"`
	}
	type event struct {
		Action   string `json:"action"`
		PrevNode *node  `json:"prevNode,omitempty"`
		Node     node   `json:"node"`
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randString := func() string {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(128))
		}
		return string(b)
	}
	for i := 0; i < 2000; i++ {
		e := event{Action: "set", Node: node{Key: randString(), Value: randString(), ModifiedIndex: rng.Uint64(), CreatedIndex: rng.Uint64()}}
		if rng.IntN(2) == 0 {
			e.PrevNode = &node{Key: randString(), Value: randString(), ModifiedIndex: rng.Uint64()}
		}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseEvent(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var back string
		if len(got.value) > 0 {
			if err := json.Unmarshal(append(append([]byte{'"'}, got.value...), '"'), &back); err != nil {
				t.Fatalf("%s: raw value %q does not unquote: %v", raw, got.value, err)
			}
		}
		if got.index != e.Node.ModifiedIndex || back != e.Node.Value {
			t.Fatalf("%s: got %d %q, want %d %q", raw, got.index, back, e.Node.ModifiedIndex, e.Node.Value)
		}
	}
}

func TestEventReaderFramesValues(t *testing.T) {
	var all strings.Builder
	for i, s := range eventSamples {
		all.WriteString(s.raw)
		if i%2 == 0 {
			all.WriteString("\n") // etcd ends each streamed event with a newline
		}
	}
	all.WriteString("\r\n  ")
	for _, name := range []string{"whole", "one byte at a time"} {
		var r io.Reader = strings.NewReader(all.String())
		if name != "whole" {
			r = iotest.OneByteReader(r)
		}
		er := newEventReader(r)
		for i, s := range eventSamples {
			raw, err := er.next()
			if err != nil {
				t.Fatalf("%s: value %d: %v", name, i, err)
			}
			if string(bytes.TrimSpace(raw)) != strings.TrimSpace(s.raw) {
				t.Fatalf("%s: value %d: got %s", name, i, raw)
			}
		}
		if _, err := er.next(); err != io.EOF {
			t.Fatalf("%s: after the last value: %v, want io.EOF", name, err)
		}
	}
}

func TestEventReaderLargeValueAndTruncation(t *testing.T) {
	big := `{"node":{"modifiedIndex":3,"value":"` + strings.Repeat("z", 100000) + `"}}`
	er := newEventReader(iotest.HalfReader(strings.NewReader(big + big)))
	for i := 0; i < 2; i++ {
		raw, err := er.next()
		if err != nil || len(raw) != len(big) {
			t.Fatalf("value %d: len %d, err %v", i, len(raw), err)
		}
	}
	er = newEventReader(strings.NewReader(big[:500]))
	if _, err := er.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated value: %v, want io.ErrUnexpectedEOF", err)
	}
	er = newEventReader(strings.NewReader(`}{"a":1}`))
	if _, err := er.next(); !errors.Is(err, errSyntax) {
		t.Fatalf("stray brace: %v, want errSyntax", err)
	}
	er = newEventReader(iotest.ErrReader(io.ErrClosedPipe))
	if _, err := er.next(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("read error: %v, want it passed through", err)
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range eventSamples {
		f.Add([]byte(s.raw))
	}
	f.Add([]byte(`{"node":{"modifiedIndex":1,"value":"\\\\"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := parseEvent(b)
		if err == nil && ev.value != nil && !bytes.Contains(b, ev.value) {
			t.Fatalf("value %q is not a slice of the input", ev.value)
		}
		er := newEventReader(bytes.NewReader(b))
		for i := 0; i < len(b)+1; i++ {
			if _, err := er.next(); err != nil {
				return
			}
		}
		t.Fatalf("reader returned more values than input bytes")
	})
}

func TestParseUint(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "7": 7, "18446744073709551615": 1<<64 - 1, "007": 7} {
		if got, err := parseUint([]byte(in)); err != nil || got != want {
			t.Errorf("parseUint(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "18446744073709551616", "99999999999999999999", "1.5", "-1", "1e3"} {
		if got, err := parseUint([]byte(in)); err == nil {
			t.Errorf("parseUint(%q) = %d, want an error", in, got)
		}
	}
}
