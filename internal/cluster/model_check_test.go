package cluster

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func op(client int, in kvInput, call, ret int64, out kvOutput) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

// The model accepts what a register may do and rejects what it may not:
// so a violation in a recorded history fails the test.
func TestModelJudgesHistories(t *testing.T) {
	set := func(v string) kvInput { return kvInput{kind: opSet, key: "/k", value: v} }
	cas := func(from, to string) kvInput { return kvInput{kind: opCAS, key: "/k", prev: from, value: to} }
	get := kvInput{kind: opGet, key: "/k"}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"stale read after an acknowledged write", []porcupine.Operation{
			op(0, set("1"), 0, 1, kvOutput{ok: true}),
			op(0, set("2"), 2, 3, kvOutput{ok: true}),
			op(1, get, 4, 5, kvOutput{value: "1"}),
		}, porcupine.Illegal},
		{"lost acknowledged write", []porcupine.Operation{
			op(0, set("1"), 0, 1, kvOutput{ok: true}),
			op(1, get, 2, 3, kvOutput{value: ""}),
		}, porcupine.Illegal},
		{"CAS that succeeded against the wrong value", []porcupine.Operation{
			op(0, set("1"), 0, 1, kvOutput{ok: true}),
			op(0, cas("2", "3"), 2, 3, kvOutput{ok: true}),
		}, porcupine.Illegal},
		{"concurrent write seen or not", []porcupine.Operation{
			op(0, set("1"), 0, 1, kvOutput{ok: true}),
			op(0, set("2"), 2, 6, kvOutput{ok: true}),
			op(1, get, 3, 4, kvOutput{value: "1"}),
			op(2, get, 3, 5, kvOutput{value: "2"}),
		}, porcupine.Ok},
		{"ambiguous CAS applied later", []porcupine.Operation{
			op(0, set("1"), 0, 1, kvOutput{ok: true}),
			op(0, cas("1", "2"), 2, 100, kvOutput{unknown: true}),
			op(1, get, 3, 4, kvOutput{value: "1"}),
			op(1, get, 5, 6, kvOutput{value: "2"}),
		}, porcupine.Ok},
		{"ambiguous write never applied", []porcupine.Operation{
			op(0, set("1"), 0, 1, kvOutput{ok: true}),
			op(0, set("2"), 2, 100, kvOutput{unknown: true}),
			op(1, get, 50, 60, kvOutput{value: "1"}),
		}, porcupine.Ok},
		{"failed CAS on a missing key", []porcupine.Operation{
			op(0, cas("1", "2"), 0, 1, kvOutput{}),
			op(1, get, 2, 3, kvOutput{value: ""}),
		}, porcupine.Ok},
	} {
		if got := porcupine.CheckOperationsTimeout(kvModel, tc.ops, 10*time.Second); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
