package httplane

import (
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
)

// headerEnd returns the length of the header block at the start of b, up
// to and including the blank line, or 0 if b does not hold all of it.
func headerEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return 0
}

// head is a parsed request line and header block the lane will serve.
type head struct {
	method        string
	target        []byte // request-target as sent (origin-form)
	header        http.Header
	host          string
	contentLength int
	close         bool // Connection: close
}

func (h *head) rawQuery() []byte {
	if i := bytes.IndexByte(h.target, '?'); i >= 0 {
		return h.target[i+1:]
	}
	return nil
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
func parseHead(b []byte, prefix string, header http.Header) (h head, ok bool) {
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	m, line, found := bytes.Cut(line, []byte(" "))
	if !found {
		return h, false
	}
	if h.method, ok = laneMethods[string(m)]; !ok {
		return h, false
	}
	target, proto, found := bytes.Cut(line, []byte(" "))
	if !found || string(proto) != "HTTP/1.1" || !hasPathPrefix(target, prefix) || !validTarget(target) {
		return h, false
	}
	h.target = target
	if header == nil {
		header = make(http.Header, 8)
	}
	clear(header)
	h.header = header
	hosts, lengths := 0, 0
	for {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) == 0 {
			break // the blank line
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !validName(name) {
			return h, false // also obsolete line folding (leading space)
		}
		value = bytes.Trim(value, " \t")
		if !validValue(value) {
			return h, false
		}
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		v := string(value)
		switch key {
		case "Host":
			hosts++
			h.host = v
			if !validHost(value) {
				return h, false
			}
		case "Content-Length":
			lengths++
			n, err := strconv.ParseUint(v, 10, 31)
			if err != nil {
				return h, false
			}
			h.contentLength = int(n)
		case "Connection":
			switch {
			case textEqual(v, "close"):
				h.close = true
			case textEqual(v, "keep-alive"):
			default:
				return h, false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return h, false
		}
		h.header[key] = append(h.header[key], v)
	}
	// HTTP/1.1 requires exactly one Host; a missing or repeated Host or
	// Content-Length is net/http's to refuse.
	return h, hosts == 1 && lengths <= 1
}

// httpRequest builds the *http.Request the handler sees, as a copy of
// base, an empty request carrying the connection's context (one
// allocation instead of a request and its WithContext copy).
func (h *head) httpRequest(base *http.Request, body []byte, remote string) (*http.Request, error) {
	target := string(h.target)
	u, err := url.ParseRequestURI(target)
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
	r.RequestURI = target
	r.Close = h.close
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return r, nil
}

// hasPathPrefix: target's path is prefix or goes on below it or with a query.
func hasPathPrefix(target []byte, prefix string) bool {
	rest, ok := bytes.CutPrefix(target, []byte(prefix))
	return ok && (len(rest) == 0 || rest[0] == '/' || rest[0] == '?')
}

// validTarget: printable ASCII without spaces or '#', as an origin-form
// target must be.
func validTarget(t []byte) bool {
	for _, c := range t {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// validName: a header name is a non-empty token.
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !isToken[c] {
			return false
		}
	}
	return true
}

// validValue: no control characters but tab (obs-text is allowed).
func validValue(b []byte) bool {
	for _, c := range b {
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
func validHost(b []byte) bool {
	for _, c := range b {
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
	return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b))
}

// formNeedsHTTP reports whether the URL-encoded form in raw has a field
// named in names, or a field name it cannot decode (so it cannot tell).
func formNeedsHTTP(raw []byte, names []string) bool {
	for len(raw) > 0 {
		var pair []byte
		pair, raw, _ = bytes.Cut(raw, []byte("&"))
		key, _, _ := bytes.Cut(pair, []byte("="))
		k := string(key)
		if bytes.ContainsAny(key, "%+") {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				return true
			}
		}
		for _, n := range names {
			if k == n {
				return true
			}
		}
	}
	return false
}
