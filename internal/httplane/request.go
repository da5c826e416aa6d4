package httplane

import (
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// headerEnd returns the length of the header block at the start of b, up
// to and including the blank line, or 0 if b does not hold all of it.
func headerEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return 0
}

// hasBareLF reports whether b holds a line feed that no carriage return
// precedes.
func hasBareLF(b []byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		if i += j; i == 0 || b[i-1] != '\r' {
			return true
		}
	}
}

// head is a parsed request line and header block the lane will serve.
// Its strings share one copy of the block.
type head struct {
	method        string
	target        string // request-target as sent (origin-form)
	header        http.Header
	host          string
	contentLength int
	close         bool // Connection: close
}

func (h *head) rawQuery() string {
	_, q, _ := strings.Cut(h.target, "?")
	return q
}

// laneMethods are the methods the lane serves, by their request-line form.
var laneMethods = map[string]string{
	"GET": http.MethodGet, "PUT": http.MethodPut, "POST": http.MethodPost, "DELETE": http.MethodDelete,
}

// parseHead parses the header block b (ending in the blank line), filling
// header (emptied first; made if nil), which a connection reuses. ok is
// false for anything the lane leaves to net/http: other methods, versions
// or paths; a header net/http would refuse or treat specially; anything
// unusual. When in doubt, not ok: net/http then does what it always does.
//
// The block is copied into one string, whose substrings are the target and
// the header values, and the values' slices share one array: two
// allocations where a string and a slice per header were a tenth of a
// write's.
func parseHead(b []byte, prefix string, header http.Header) (h head, ok bool) {
	line, rest, _ := strings.Cut(string(b), "\r\n")
	m, line, found := strings.Cut(line, " ")
	if !found {
		return h, false
	}
	if h.method, ok = laneMethods[m]; !ok {
		return h, false
	}
	target, proto, found := strings.Cut(line, " ")
	if !found || proto != "HTTP/1.1" || !hasPathPrefix(target, prefix) || !validTarget(target) {
		return h, false
	}
	h.target = target
	if header == nil {
		header = make(http.Header, 8)
	}
	clear(header)
	h.header = header
	vals := make([]string, 0, strings.Count(rest, "\r\n"))
	hosts, lengths := 0, 0
	for {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if len(line) == 0 {
			break // the blank line
		}
		name, value, found := strings.Cut(line, ":")
		if !found || !validName(name) {
			return h, false // also obsolete line folding (leading space)
		}
		value = strings.Trim(value, " \t")
		if !validValue(value) {
			return h, false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			hosts++
			h.host = value
			if !validHost(value) {
				return h, false
			}
		case "Content-Length":
			lengths++
			n, err := strconv.ParseUint(value, 10, 31)
			if err != nil {
				return h, false
			}
			h.contentLength = int(n)
		case "Connection":
			switch {
			case textEqual(value, "close"):
				h.close = true
			case textEqual(value, "keep-alive"):
			default:
				return h, false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return h, false
		}
		if prev, seen := h.header[key]; seen {
			h.header[key] = append(prev, value) // a repeat: its own slice
		} else {
			vals = append(vals, value)
			h.header[key] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	// HTTP/1.1 requires exactly one Host; a missing or repeated Host or
	// Content-Length is net/http's to refuse.
	return h, hosts == 1 && lengths <= 1
}

// httpRequest builds the *http.Request the handler sees, as a copy of
// base, an empty request carrying the connection's context (one
// allocation instead of a request and its WithContext copy). body, when
// not nil, is the request body.
func (h *head) httpRequest(base *http.Request, body io.ReadCloser, remote string) (*http.Request, error) {
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return nil, err
	}
	r := new(http.Request)
	*r = *base
	r.Method = h.method
	r.URL = u
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = h.header
	r.Body = http.NoBody
	r.ContentLength = int64(h.contentLength)
	r.Host = h.host
	r.RemoteAddr = remote
	r.RequestURI = h.target
	r.Close = h.close
	if body != nil {
		r.Body = body
	}
	return r, nil
}

// hasPathPrefix: target's path is prefix or goes on below it or with a query.
func hasPathPrefix(target, prefix string) bool {
	rest, ok := strings.CutPrefix(target, prefix)
	return ok && (len(rest) == 0 || rest[0] == '/' || rest[0] == '?')
}

// validTarget: printable ASCII without spaces or '#', as an origin-form
// target must be.
func validTarget(t string) bool {
	for _, c := range []byte(t) {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// validName: a header name is a non-empty token.
func validName[T string | []byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range []byte(b) {
		if c >= 0x80 || !isToken[c] {
			return false
		}
	}
	return true
}

// validValue: no control characters but tab (obs-text is allowed).
func validValue(b string) bool {
	for _, c := range []byte(b) {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// isToken marks RFC 9110 token characters.
var isToken = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validHost: the characters of a host[:port], IP literals included.
func validHost(b string) bool {
	for _, c := range []byte(b) {
		if c >= 0x80 || !isHostChar[c] {
			return false
		}
	}
	return true
}

var isHostChar = func() (t [128]bool) {
	for c := range 128 {
		t[c] = isToken[c]
	}
	for _, c := range ":[]()=,;" {
		t[c] = true
	}
	return t
}()

// textEqual is an ASCII case-insensitive comparison.
func textEqual(a, b string) bool {
	return len(a) == len(b) && strings.EqualFold(a, b)
}

// formNeedsHTTP reports whether the URL-encoded form in raw has a field
// named in names, or a field name it cannot decode (so it cannot tell).
func formNeedsHTTP[T string | []byte](raw T, names []string) bool {
	for len(raw) > 0 {
		var pair T
		pair, raw = cutByte(raw, '&')
		key, _ := cutByte(pair, '=')
		if hasEscape(key) {
			k, err := url.QueryUnescape(string(key))
			if err != nil || slices.Contains(names, k) {
				return true
			}
			continue
		}
		for _, n := range names {
			if string(key) == n {
				return true
			}
		}
	}
	return false
}

// cutByte is strings.Cut or bytes.Cut around the byte sep.
func cutByte[T string | []byte](s T, sep byte) (before, after T) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:]
		}
	}
	return s, s[len(s):]
}

// hasEscape says whether a form name may decode to something else.
func hasEscape[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '+' {
			return true
		}
	}
	return false
}
