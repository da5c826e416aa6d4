package httplane

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"testing"
)

// FuzzParseHead checks the lane against net/http's own request parser:
// whatever header block the lane accepts, net/http parses too, to the same
// method, target, host, length and header values.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /v2/keys/a HTTP/1.1\r\nHost: h\r\n\r\n",
		"PUT /v2/keys/a?ttl=5 HTTP/1.1\r\nHost: h:2379\r\nContent-Length: 7\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n",
		"DELETE /v2/keys HTTP/1.1\r\nhost: [::1]:4001\r\nconnection: close\r\n\r\n",
		"POST /v2/keys/q HTTP/1.1\r\nHost: h\r\nX-A:\t v \t\r\nX-A: w\r\n\r\n",
		"GET /v2/keys/%zz HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /v2/keys/a HTTP/1.1\r\nHost: h\r\nContent-Length: 01\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := headerEnd(b)
		if n == 0 {
			return
		}
		b = b[:n]
		h, ok := parseHead(b, "/v2/keys", nil)
		if !ok {
			return
		}
		lane, err := h.httpRequest((&http.Request{}).WithContext(context.Background()), nil, "")
		if err != nil {
			return // handed to net/http
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("lane accepts what net/http refuses (%v): %q", err, b)
		}
		if r.Method != lane.Method || r.RequestURI != lane.RequestURI || r.Host != lane.Host ||
			r.ContentLength != lane.ContentLength || r.Close != lane.Close || r.URL.String() != lane.URL.String() {
			t.Fatalf("parsed differently: %q\nnet/http %s %s host %q len %d close %v\nlane     %s %s host %q len %d close %v",
				b, r.Method, r.RequestURI, r.Host, r.ContentLength, r.Close,
				lane.Method, lane.RequestURI, lane.Host, lane.ContentLength, lane.Close)
		}
		for k, v := range r.Header {
			if k == "Host" {
				continue
			}
			if lv := lane.Header[k]; !equalStrings(lv, v) {
				t.Fatalf("header %s: net/http %q, lane %q in %q", k, v, lv, b)
			}
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
