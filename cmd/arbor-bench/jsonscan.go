package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// A thousand watchers at 200 writes/s receive 200,000 events a second, and
// encoding/json spent most of the tool's CPU decoding them (reflection, and
// unquoting every 256-byte value) on a machine it shares with the server
// under test. Watchers need only two fields of each event, so they frame
// events and pick those fields with the small scanner below instead. It
// checks the structure it walks through; it does not validate what it skips
// (the servers' JSON is trusted, and a mangled event surfaces as a decode
// error or a lost index anyway).

var (
	errIncomplete = errors.New("json: incomplete value")
	errSyntax     = errors.New("json: malformed")
)

// maxEventSize bounds one framed value, so a server that never closes a
// brace cannot make a watcher buffer without end.
const maxEventSize = 16 << 20

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string whose opening quote is
// at b[i].
func stringEnd(b []byte, i int) (int, error) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, errIncomplete
		}
		q := j + k
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
}

// valueEnd returns the index just past the JSON value starting at b[i].
// errIncomplete means b ends inside the value.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errIncomplete
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errIncomplete
	case '}', ']', ',', ':':
		return 0, errSyntax
	default: // number, true, false, null
		j := i
		for j < len(b) {
			c := b[j]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			j++
		}
		if j == len(b) {
			return 0, errIncomplete // a number may go on in the next read
		}
		return j, nil
	}
}

// members calls fn with each member of the object at b[i] (the key without
// its quotes, unescaped only in the sense that it is compared raw, and the
// value's span) and returns the index just past the object.
func members(b []byte, i int, fn func(key []byte, vs, ve int) error) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return 0, errSyntax
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j + 1, nil
	}
	for {
		if j >= len(b) {
			return 0, errIncomplete
		}
		if b[j] != '"' {
			return 0, errSyntax
		}
		ke, err := stringEnd(b, j)
		if err != nil {
			return 0, err
		}
		key := b[j+1 : ke-1]
		j = skipWS(b, ke)
		if j >= len(b) {
			return 0, errIncomplete
		}
		if b[j] != ':' {
			return 0, errSyntax
		}
		vs := skipWS(b, j+1)
		ve, err := valueEnd(b, vs)
		if err != nil {
			return 0, err
		}
		if err := fn(key, vs, ve); err != nil {
			return 0, err
		}
		j = skipWS(b, ve)
		if j >= len(b) {
			return 0, errIncomplete
		}
		switch b[j] {
		case ',':
			j = skipWS(b, j+1)
		case '}':
			return j + 1, nil
		default:
			return 0, errSyntax
		}
	}
}

// parseUint parses a JSON non-negative integer.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty number", errSyntax)
	}
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if c < '0' || c > '9' || v > (math.MaxUint64-d)/10 {
			return 0, fmt.Errorf("%w: index %q", errSyntax, b)
		}
		v = v*10 + d
	}
	return v, nil
}

// eventFields is what a watcher takes from a v2 event.
type eventFields struct {
	index uint64 // node.modifiedIndex
	value []byte // node.value as it appears between the quotes; aliases the input
}

// parseEvent picks node.modifiedIndex and node.value out of one v2 event
// object (prevNode, whose fields have the same names, is skipped). A missing
// modifiedIndex is an error: the event cannot be checked without it.
func parseEvent(b []byte) (eventFields, error) {
	var ev eventFields
	haveIndex := false
	i := skipWS(b, 0)
	_, err := members(b, i, func(key []byte, vs, ve int) error {
		if string(key) != "node" || b[vs] != '{' {
			return nil
		}
		_, err := members(b, vs, func(k []byte, s, e int) error {
			switch string(k) {
			case "modifiedIndex":
				v, err := parseUint(b[s:e])
				if err != nil {
					return err
				}
				ev.index, haveIndex = v, true
			case "value":
				if b[s] == '"' {
					ev.value = b[s+1 : e-1]
				}
			}
			return nil
		})
		return err
	})
	if err != nil {
		return eventFields{}, err
	}
	if !haveIndex {
		return eventFields{}, fmt.Errorf("%w: event without node.modifiedIndex", errSyntax)
	}
	return ev, nil
}

// eventReader splits a response body into consecutive top-level JSON values
// (one per long poll, one after another on a stream, with or without
// newlines between them).
type eventReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{r: r, buf: make([]byte, 4096)}
}

// reset makes the reader read r from the start, keeping its buffer: a
// long-poll watcher reads one small body per event and would otherwise
// allocate a buffer for each.
func (er *eventReader) reset(r io.Reader) {
	er.r, er.start, er.end = r, 0, 0
}

// next returns the next value. The slice is valid until the following call.
// It returns io.EOF at a clean end of the body, io.ErrUnexpectedEOF when the
// body ends inside a value.
func (er *eventReader) next() ([]byte, error) {
	for {
		er.start = skipWS(er.buf[:er.end], er.start)
		if er.start < er.end {
			e, err := valueEnd(er.buf[:er.end], er.start)
			if err == nil {
				v := er.buf[er.start:e]
				er.start = e
				return v, nil
			}
			if err != errIncomplete {
				return nil, err
			}
		}
		if er.start > 0 {
			er.end = copy(er.buf, er.buf[er.start:er.end])
			er.start = 0
		}
		if er.end == len(er.buf) {
			if len(er.buf) >= maxEventSize {
				return nil, fmt.Errorf("%w: value longer than %d bytes", errSyntax, maxEventSize)
			}
			grown := make([]byte, 2*len(er.buf))
			copy(grown, er.buf[:er.end])
			er.buf = grown
		}
		n, err := er.r.Read(er.buf[er.end:])
		er.end += n
		if n == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				if skipWS(er.buf[:er.end], er.start) < er.end {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, io.EOF
			}
			return nil, err
		}
	}
}
