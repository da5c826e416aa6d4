package store

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEvent appends e as encoding/json would marshal it (field order,
// omitempty, HTML-safe escaping), without reflection: encoding every write's
// answer was 5% of a write's CPU. FuzzAppendEvent holds it to
// encoding/json's output byte for byte.
func appendEvent(b []byte, e *Event) []byte { return appendEventSpill(b, e, nil) }

// appendEventSpill is appendEvent for an event that may carry a large
// listing: spill, when not nil, is handed the bytes so far after each
// listed node, and returns what is left to append to, or false to stop.
func appendEventSpill(b []byte, e *Event, spill func([]byte) ([]byte, bool)) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	if e.Node != nil {
		b = append(b, `,"node":`...)
		if e.list != nil {
			b = e.list.appendNode(b, e.Node, spill)
		} else {
			b = appendNode(b, e.Node)
		}
	}
	if e.PrevNode != nil {
		b = append(b, `,"prevNode":`...)
		b = appendNode(b, e.PrevNode)
	}
	return append(b, '}')
}

func appendNode(b []byte, n *NodeExtern) []byte {
	b, first := appendNodeHead(b, n)
	if len(n.Nodes) > 0 {
		b = appendField(b, &first, "nodes")
		b = append(b, '[')
		for i, c := range n.Nodes {
			if i > 0 {
				b = append(b, ',')
			}
			if c == nil {
				b = append(b, "null"...)
			} else {
				b = appendNode(b, c)
			}
		}
		b = append(b, ']')
	}
	return appendNodeTail(b, n, first)
}

// appendNodeHead opens n's object and appends its fields before "nodes";
// first says whether none was written.
func appendNodeHead(b []byte, n *NodeExtern) (_ []byte, first bool) {
	b = append(b, '{')
	first = true
	if n.Key != "" {
		b = appendField(b, &first, "key")
		b = appendString(b, n.Key)
	}
	if n.Value != nil {
		b = appendField(b, &first, "value")
		b = appendString(b, *n.Value)
	}
	if n.Dir {
		b = appendField(b, &first, "dir")
		b = append(b, "true"...)
	}
	if n.Expiration != nil {
		b = appendField(b, &first, "expiration")
		b = append(b, '"')
		b = n.Expiration.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if n.TTL != 0 {
		b = appendField(b, &first, "ttl")
		b = strconv.AppendInt(b, n.TTL, 10)
	}
	return b, first
}

// appendNodeTail appends n's fields after "nodes" and closes its object.
func appendNodeTail(b []byte, n *NodeExtern, first bool) []byte {
	if n.ModifiedIndex != 0 {
		b = appendField(b, &first, "modifiedIndex")
		b = strconv.AppendUint(b, n.ModifiedIndex, 10)
	}
	if n.CreatedIndex != 0 {
		b = appendField(b, &first, "createdIndex")
		b = strconv.AppendUint(b, n.CreatedIndex, 10)
	}
	return append(b, '}')
}

// appendField appends the name of an object's next field, after a comma
// unless it is the first.
func appendField(b []byte, first *bool, name string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	b = append(b, name...)
	return append(b, `":`...)
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes encoding/json writes as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString quotes s the way encoding/json does by default: \", \\, \n,
// \r, \t, \b, \f; other control characters, <, > and & as \u00XX; invalid UTF-8 as
// \ufffd; U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
