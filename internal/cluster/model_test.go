package cluster

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// The linearizability model: independent registers, one per key, each
// holding a string ("" while the key does not exist; written values are
// never empty).

type opKind uint8

const (
	opGet opKind = iota // quorum=true read
	opSet               // PUT value
	opCAS               // PUT value with prevValue
)

type kvInput struct {
	kind  opKind
	key   string
	value string // set and CAS: the new value
	prev  string // CAS: the expected value
}

type kvOutput struct {
	// unknown: the write got no answer, or one that does not say whether
	// it applied (a timeout, a 5xx). It may have taken effect at any time
	// after its call; its return time is after every other operation's.
	unknown bool
	ok      bool   // CAS: swapped (false: compare failed or key missing)
	value   string // get: the value read, "" for a missing key
}

var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, seen := byKey[k]; !seen {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.kind {
		case opGet:
			return out.value == st, st
		case opSet:
			return true, in.value
		case opCAS:
			swaps := st == in.prev
			if out.unknown || out.ok == swaps {
				if swaps {
					return true, in.value
				}
				return true, st
			}
			return false, st
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		switch in.kind {
		case opGet:
			return fmt.Sprintf("get(%s) → %q", in.key, out.value)
		case opSet:
			if out.unknown {
				return fmt.Sprintf("set(%s, %q) → ?", in.key, in.value)
			}
			return fmt.Sprintf("set(%s, %q)", in.key, in.value)
		default:
			res := "fail"
			switch {
			case out.unknown:
				res = "?"
			case out.ok:
				res = "ok"
			}
			return fmt.Sprintf("cas(%s, %q → %q) → %s", in.key, in.prev, in.value, res)
		}
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}
