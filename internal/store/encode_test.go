package store

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func eventFrom(action, key, value string, dir bool, exp int64, ttl int64, idx uint64, child string) *Event {
	n := &NodeExtern{Key: key, Dir: dir, TTL: ttl, ModifiedIndex: idx, CreatedIndex: idx / 2}
	if !dir {
		n.Value = &value
	}
	if exp != 0 {
		t := time.Unix(0, exp).UTC()
		n.Expiration = &t
	}
	if child != "" {
		v := child
		n.Nodes = []*NodeExtern{{Key: key + "/" + child, Value: &v, ModifiedIndex: idx}, {Key: key + "/d", Dir: true}}
	}
	return &Event{Action: action, Node: n, PrevNode: &NodeExtern{Key: key, Value: &value}}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	for _, e := range []*Event{
		eventFrom("set", "/a", "1", false, 0, 0, 1, ""),
		eventFrom("get", "", "", true, 0, 0, 0, "x"),
		eventFrom("expire", "/<b>&c", "\u2028\x00\xff\"\\\n\t\r\x7f é", false, 1_700_000_000_123_456_789, 5, 9, ""),
		eventFrom("0", "0", "0", false, 0, -64, 1, "\b\f"), // short escapes found by the fuzzer
		{Action: "delete", Node: &NodeExtern{Key: "/d", Dir: true, ModifiedIndex: 3}},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEvent(nil, e); !bytes.Equal(got, want) {
			t.Errorf("appendEvent:\n got %s\nwant %s", got, want)
		}
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("set", "/a", "v", false, int64(0), int64(0), uint64(1), "")
	f.Add("get", "/<d>", "\u2029\xf0\x28", true, int64(1_700_000_000_000_000_001), int64(3), uint64(7), "c&")
	f.Fuzz(func(t *testing.T, action, key, value string, dir bool, exp, ttl int64, idx uint64, child string) {
		if exp < 0 || exp > 1<<62 {
			exp = 0 // keep times within encoding/json's year range
		}
		e := eventFrom(action, key, value, dir, exp, ttl, idx, child)
		want, err := json.Marshal(e)
		if err != nil {
			t.Skip()
		}
		if got := appendEvent(nil, e); !bytes.Equal(got, want) {
			t.Fatalf("appendEvent:\n got %q\nwant %q", got, want)
		}
	})
}

func TestAppendJSONDoesNotCache(t *testing.T) {
	e := eventFrom("set", "/a", "1", false, 0, 0, 1, "")
	if got := e.AppendJSON(nil); !bytes.Equal(got, append(appendEvent(nil, e), '\n')) {
		t.Fatalf("AppendJSON = %q", got)
	}
	if e.encoded.Load() != nil {
		t.Fatal("AppendJSON cached the encoding in the event")
	}
	if !bytes.Equal(e.Encode(), e.AppendJSON(nil)) {
		t.Fatal("Encode and AppendJSON differ")
	}
}
