package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// object is a decoded JSON object that remembers the order its fields
// had on the wire: encoding/json's maps forget it, and field order is
// part of what clients may depend on.
type object struct {
	keys []string // wire order, first occurrence
	m    map[string]any
}

// Values in a decoded tree are *object, []any, string, json.Number, bool
// or nil.

// parseOrdered decodes one JSON value and rejects trailing data.
func parseOrdered(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := readValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := &object{m: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("object key %v is not a string", kt)
			}
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := o.m[k]; !dup {
				o.keys = append(o.keys, k)
			}
			o.m[k] = v
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return o, nil
	case '[':
		arr := []any{}
		for dec.More() {
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unexpected delimiter %v", d)
}

// canonical encodes v with object fields sorted, so two trees compare by
// content regardless of field order.
func canonical(v any) string {
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String()
}

func writeCanonical(b *strings.Builder, v any) {
	switch x := v.(type) {
	case *object:
		keys := append([]string(nil), x.keys...)
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeCanonical(b, x.m[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case string:
		writeString(b, x)
	case json.Number:
		b.WriteString(x.String())
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	default:
		fmt.Fprintf(b, "%#v", x)
	}
}

func writeString(b *strings.Builder, s string) {
	// Unescaped <, > and &, so the markers stay readable in diffs.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding a string cannot fail.
	_ = enc.Encode(s)
	b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// wire encodes v the way encoding/json would write it: fields in their
// recorded order, strings escaped as json.Marshal escapes them (HTML
// characters, U+2028/U+2029, invalid UTF-8), numbers as they were. etcd
// writes its bodies with encoding/json, so an answer equal to its own wire
// encoding matches etcd's byte for byte wherever content and order match.
func wire(v any) string {
	var b strings.Builder
	writeWire(&b, v)
	return b.String()
}

func writeWire(b *strings.Builder, v any) {
	switch x := v.(type) {
	case *object:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeMarshalled(b, k)
			b.WriteByte(':')
			writeWire(b, x.m[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeWire(b, e)
		}
		b.WriteByte(']')
	case string:
		writeMarshalled(b, x)
	default:
		writeCanonical(b, x)
	}
}

func writeMarshalled(b *strings.Builder, s string) {
	// Marshalling a string cannot fail.
	enc, _ := json.Marshal(s)
	// encoding/json writes invalid UTF-8 as the escape \ufffd, and the
	// decoder hands that back as U+FFFD, which Marshal would write raw.
	// Stored values come from URL-decoded forms, where invalid bytes are
	// far likelier than a real U+FFFD, so assume the escape.
	b.WriteString(strings.ReplaceAll(string(enc), "\uFFFD", `\ufffd`))
}

// fieldOrders records the wire field order of the top-level object and of
// every node object below it (node, prevNode, and nodes at any depth),
// labelled by where they sit. Nodes inside "nodes" are labelled by their
// key (passed through normKey), so the comparison does not depend on the
// order of the list itself.
func fieldOrders(v any, normKey func(string) string) map[string]string {
	out := map[string]string{}
	var walk func(v any, label string)
	walk = func(v any, label string) {
		o, ok := v.(*object)
		if !ok {
			return
		}
		out[label] = strings.Join(o.keys, ",")
		for _, f := range []string{"node", "prevNode"} {
			if c, ok := o.m[f]; ok {
				walk(c, label+"."+f)
			}
		}
		if arr, ok := o.m["nodes"].([]any); ok {
			for i, e := range arr {
				id := strconv.Itoa(i)
				if eo, ok := e.(*object); ok {
					if k, ok := eo.m["key"].(string); ok {
						id = normKey(k)
					}
				}
				walk(e, label+".nodes["+id+"]")
			}
		}
	}
	walk(v, "top")
	return out
}

// shape lists every field path in v with the JSON type found there, e.g.
// "leaderInfo.uptime:string". Array elements share the path "[]".
func shape(v any) map[string]string {
	out := map[string]string{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case *object:
			out[path] = "object"
			for _, k := range x.keys {
				walk(x.m[k], joinPath(path, k))
			}
		case []any:
			out[path] = "array"
			for _, e := range x {
				walk(e, path+"[]")
			}
		case string:
			out[path] = "string"
		case json.Number:
			out[path] = "number"
		case bool:
			out[path] = "bool"
		case nil:
			out[path] = "null"
		}
	}
	walk(v, "")
	return out
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
