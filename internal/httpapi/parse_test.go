package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

type parseCase struct {
	name   string
	method string
	target string // path and query
	body   string // form body
	ctype  string // Content-Type for the body (default: form)
	// Either want (success) or code and cause (failure).
	want  *keyRequest
	code  apierr.Code
	cause string
}

func boolp(b bool) *bool { return &b }

func get(key string, mod func(*keyRequest)) *keyRequest {
	kr := &keyRequest{method: http.MethodGet, key: key}
	if mod != nil {
		mod(kr)
	}
	return kr
}

func write(method string, key string, mod func(*store.Request)) *keyRequest {
	m := map[string]store.Method{
		http.MethodPut: store.MethodPut, http.MethodPost: store.MethodPost, http.MethodDelete: store.MethodDelete,
	}[method]
	r := &store.Request{Method: m, Path: key, Time: testNow.UnixNano()}
	if mod != nil {
		mod(r)
	}
	return &keyRequest{method: method, key: key, recursive: r.Recursive, write: r}
}

func expAfter(s int64) int64 { return testNow.Add(time.Duration(s) * time.Second).UnixNano() }

// parseCases are the behaviours observed with curl against etcd 3.4.23
// (--enable-v2), plus Arbor's documented differences (consistent is
// checked and means quorum; TTLs that overflow are refused).
func parseCases() []parseCase {
	cs := []parseCase{
		// Keys.
		{name: "root", method: "GET", target: "/v2/keys", want: get("/", nil)},
		{name: "root slash", method: "GET", target: "/v2/keys/", want: get("/", nil)},
		{name: "trailing slash", method: "GET", target: "/v2/keys/foo/bar/", want: get("/foo/bar", nil)},
		{name: "double slashes", method: "GET", target: "/v2/keys//a//b", want: get("/a/b", nil)},
		{name: "dot dot", method: "GET", target: "/v2/keys/a/../b", want: get("/b", nil)},
		// Dot segments apply to the whole URL path: this one leaves /v2/keys.
		{name: "dot dot above root", method: "GET", target: "/v2/keys/a/../../../b", code: apierr.InvalidForm, cause: "incorrect key prefix"},
		{name: "dot dot back in", method: "GET", target: "/v2/keys/../keys/b", want: get("/b", nil)},
		{name: "escaped slash", method: "GET", target: "/v2/keys/a%2Fb", want: get("/a/b", nil)},
		{name: "escaped nul", method: "GET", target: "/v2/keys/a%00b", want: get("/a\x00b", nil)},
		{name: "hidden", method: "GET", target: "/v2/keys/_etcd/machines", want: get("/_etcd/machines", nil)},
		{name: "not keys", method: "GET", target: "/v2/keysfoo", code: apierr.InvalidForm, cause: "incorrect key prefix"},

		// Read flags.
		{name: "recursive sorted", method: "GET", target: "/v2/keys/d?recursive=true&sorted=1",
			want: get("/d", func(k *keyRequest) { k.recursive, k.sorted = true, true })},
		{name: "first value counts", method: "GET", target: "/v2/keys/d?recursive=true&recursive=bad",
			want: get("/d", func(k *keyRequest) { k.recursive = true })},
		{name: "first value counts bad", method: "GET", target: "/v2/keys/d?recursive=bad&recursive=true",
			code: apierr.InvalidField, cause: `invalid value for "recursive"`},
		{name: "quorum", method: "GET", target: "/v2/keys/d?quorum=true",
			want: get("/d", func(k *keyRequest) { k.quorum = true })},
		{name: "consistent", method: "GET", target: "/v2/keys/d?consistent=true",
			want: get("/d", func(k *keyRequest) { k.quorum = true })},
		{name: "consistent false", method: "GET", target: "/v2/keys/d?consistent=false", want: get("/d", nil)},
		{name: "unknown param", method: "GET", target: "/v2/keys/d?frob=1", want: get("/d", nil)},
		{name: "value on get ignored", method: "GET", target: "/v2/keys/d?value=1&dir=true", want: get("/d", nil)},
		{name: "wait", method: "GET", target: "/v2/keys/d?wait=true&waitIndex=7&stream=true&recursive=true",
			want: get("/d", func(k *keyRequest) { k.wait, k.waitIndex, k.stream, k.recursive = true, 7, true, true })},
		{name: "wait max index", method: "GET", target: "/v2/keys/d?wait=true&waitIndex=18446744073709551615",
			want: get("/d", func(k *keyRequest) { k.wait, k.waitIndex = true, 1<<64-1 })},
		{name: "noValueOnSuccess on get", method: "GET", target: "/v2/keys/d?noValueOnSuccess=true",
			want: get("/d", func(k *keyRequest) { k.noValueOnSuccess = true })},
		{name: "head", method: "HEAD", target: "/v2/keys/d?recursive=true",
			want: &keyRequest{method: "HEAD", key: "/d", recursive: true}},
		{name: "head wait", method: "HEAD", target: "/v2/keys/d?wait=true",
			code: apierr.InvalidField, cause: `"wait" can only be used with GET requests`},

		// Writes.
		{name: "put form", method: "PUT", target: "/v2/keys/foo", body: "value=bar",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val = "bar" })},
		{name: "put query", method: "PUT", target: "/v2/keys/foo?value=bar",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val = "bar" })},
		{name: "body beats query", method: "PUT", target: "/v2/keys/foo?value=q", body: "value=b",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val = "b" })},
		{name: "non-form body ignored", method: "PUT", target: "/v2/keys/foo?value=q", body: "value=b", ctype: "text/plain",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val = "q" })},
		{name: "escaped value", method: "PUT", target: "/v2/keys/foo", body: "value=a%20b+c%26d",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val = "a b c&d" })},
		{name: "empty value", method: "PUT", target: "/v2/keys/foo", body: "value=",
			want: write("PUT", "/foo", nil)},
		{name: "dir", method: "PUT", target: "/v2/keys/d?dir=true",
			want: write("PUT", "/d", func(r *store.Request) { r.Dir = true })},
		{name: "ttl", method: "PUT", target: "/v2/keys/foo?ttl=5", body: "value=1",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val, r.Expiration = "1", expAfter(5) })},
		{name: "ttl zero", method: "PUT", target: "/v2/keys/foo", body: "value=1&ttl=0",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val, r.Expiration = "1", expAfter(0) })},
		{name: "ttl empty", method: "PUT", target: "/v2/keys/foo", body: "value=1&ttl=",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val = "1" })},
		{name: "ttl first empty", method: "PUT", target: "/v2/keys/foo?ttl=&ttl=5",
			want: write("PUT", "/foo", nil)},
		{name: "ttl largest", method: "PUT", target: "/v2/keys/foo?ttl=7000000000",
			want: write("PUT", "/foo", func(r *store.Request) { r.Expiration = testNow.UnixNano() + 7e18 })},
		{name: "prevExist false", method: "PUT", target: "/v2/keys/foo?prevExist=false",
			want: write("PUT", "/foo", func(r *store.Request) { r.PrevExist = boolp(false) })},
		{name: "prevExist TRUE", method: "PUT", target: "/v2/keys/foo?prevExist=TRUE",
			want: write("PUT", "/foo", func(r *store.Request) { r.PrevExist = boolp(true) })},
		{name: "cas", method: "PUT", target: "/v2/keys/foo?prevValue=a&prevIndex=3", body: "value=b",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val, r.PrevValue, r.PrevIndex = "b", "a", 3 })},
		{name: "refresh", method: "PUT", target: "/v2/keys/foo?refresh=true&ttl=5",
			want: write("PUT", "/foo", func(r *store.Request) { r.Refresh, r.Expiration = true, expAfter(5) })},
		{name: "refresh empty value", method: "PUT", target: "/v2/keys/foo?refresh=true&ttl=5&value=",
			want: write("PUT", "/foo", func(r *store.Request) { r.Refresh, r.Expiration = true, expAfter(5) })},
		{name: "refresh false with value", method: "PUT", target: "/v2/keys/foo?refresh=false", body: "value=x",
			want: write("PUT", "/foo", func(r *store.Request) { r.Val = "x" })},
		{name: "noValueOnSuccess", method: "PUT", target: "/v2/keys/foo?noValueOnSuccess=true", body: "value=x",
			want: func() *keyRequest {
				k := write("PUT", "/foo", func(r *store.Request) { r.Val = "x" })
				k.noValueOnSuccess = true
				return k
			}()},
		{name: "post", method: "POST", target: "/v2/keys/queue", body: "value=job&ttl=10",
			want: write("POST", "/queue", func(r *store.Request) { r.Val, r.Expiration = "job", expAfter(10) })},
		{name: "post root", method: "POST", target: "/v2/keys/", body: "value=x",
			want: write("POST", "/", func(r *store.Request) { r.Val = "x" })},
		{name: "delete", method: "DELETE", target: "/v2/keys/d?recursive=true&dir=true",
			want: write("DELETE", "/d", func(r *store.Request) { r.Recursive, r.Dir = true, true })},
		{name: "cad", method: "DELETE", target: "/v2/keys/d?prevValue=a&prevIndex=4",
			want: write("DELETE", "/d", func(r *store.Request) { r.PrevValue, r.PrevIndex = "a", 4 })},
		// net/http reads a form body only for POST, PUT and PATCH; etcd
		// ignores a DELETE's body the same way.
		{name: "delete body ignored", method: "DELETE", target: "/v2/keys/d", body: "prevValue=a&recursive=true",
			want: write("DELETE", "/d", nil)},

		// Index errors.
		{name: "waitIndex empty", method: "GET", target: "/v2/keys/d?waitIndex=", code: apierr.IndexNaN, cause: `invalid value for "waitIndex"`},
		{name: "waitIndex overflow", method: "GET", target: "/v2/keys/d?waitIndex=18446744073709551616", code: apierr.IndexNaN, cause: `invalid value for "waitIndex"`},
		{name: "prevIndex in body", method: "PUT", target: "/v2/keys/d", body: "prevIndex=x", code: apierr.IndexNaN, cause: `invalid value for "prevIndex"`},

		// TTL errors.
		{name: "ttl too large", method: "PUT", target: "/v2/keys/d?ttl=18446744073709551615", code: apierr.TTLNaN, cause: `invalid value for "ttl"`},
		{name: "ttl past int64", method: "PUT", target: "/v2/keys/d?ttl=9223372037", code: apierr.TTLNaN, cause: `invalid value for "ttl"`},
		{name: "ttl expiration past int64", method: "PUT", target: "/v2/keys/d?ttl=9223372036", code: apierr.TTLNaN, cause: `invalid value for "ttl"`},
		{name: "ttl on get", method: "GET", target: "/v2/keys/d?ttl=x", code: apierr.TTLNaN, cause: `invalid value for "ttl"`},

		// Other checks, in etcd's order.
		{name: "wait on put", method: "PUT", target: "/v2/keys/w?wait=true", body: "value=1",
			code: apierr.InvalidField, cause: `"wait" can only be used with GET requests`},
		{name: "wait on delete", method: "DELETE", target: "/v2/keys/w?wait=true",
			code: apierr.InvalidField, cause: `"wait" can only be used with GET requests`},
		{name: "empty prevValue", method: "PUT", target: "/v2/keys/w?prevValue=", body: "value=1",
			code: apierr.PrevValueReq, cause: `"prevValue" cannot be empty`},
		{name: "refresh with value", method: "PUT", target: "/v2/keys/w?refresh=true&ttl=5", body: "value=1",
			code: apierr.RefreshValue, cause: "A value was provided on a refresh"},
		{name: "refresh no ttl", method: "PUT", target: "/v2/keys/w?refresh=true&value=",
			code: apierr.RefreshTTLReq, cause: "No TTL value set"},
		{name: "refresh empty ttl", method: "PUT", target: "/v2/keys/w?refresh=true&ttl=",
			code: apierr.RefreshTTLReq, cause: "No TTL value set"},
		{name: "order prevIndex first", method: "PUT", target: "/v2/keys/w?waitIndex=abc&prevIndex=abc&recursive=x",
			code: apierr.IndexNaN, cause: `invalid value for "prevIndex"`},
		{name: "order waitIndex before flags", method: "GET", target: "/v2/keys/w?recursive=x&waitIndex=abc",
			code: apierr.IndexNaN, cause: `invalid value for "waitIndex"`},
		{name: "order recursive before sorted", method: "PUT", target: "/v2/keys/w?sorted=x&recursive=x",
			code: apierr.InvalidField, cause: `invalid value for "recursive"`},
		{name: "order ttl before prevExist", method: "PUT", target: "/v2/keys/w?ttl=x&prevExist=x",
			code: apierr.TTLNaN, cause: `invalid value for "ttl"`},
		{name: "order noValueOnSuccess before ttl", method: "PUT", target: "/v2/keys/w?ttl=x&noValueOnSuccess=x",
			code: apierr.InvalidField, cause: `invalid value for "noValueOnSuccess"`},
		{name: "order prevValue before noValueOnSuccess", method: "PUT", target: "/v2/keys/w?prevValue=&noValueOnSuccess=x",
			code: apierr.PrevValueReq, cause: `"prevValue" cannot be empty`},
		{name: "order wait before prevValue", method: "PUT", target: "/v2/keys/w?wait=true&prevValue=",
			code: apierr.InvalidField, cause: `"wait" can only be used with GET requests`},
		{name: "order stream before wait check", method: "PUT", target: "/v2/keys/w?wait=true&stream=x",
			code: apierr.InvalidField, cause: `invalid value for "stream"`},
		{name: "order prevExist before refresh", method: "PUT", target: "/v2/keys/w?refresh=x&prevExist=x",
			code: apierr.InvalidField, cause: "invalid value for prevExist"},

		// Form errors.
		{name: "bad query escape", method: "PUT", target: "/v2/keys/w?value=%zz",
			code: apierr.InvalidForm, cause: `invalid URL escape "%zz"`},
		{name: "bad body escape", method: "PUT", target: "/v2/keys/w", body: "value=%zz",
			code: apierr.InvalidForm, cause: `invalid URL escape "%zz"`},
		{name: "semicolon", method: "GET", target: "/v2/keys/?recursive;=true&sorted;=false",
			code: apierr.InvalidForm, cause: "invalid semicolon separator in query"},
		{name: "bad content type", method: "PUT", target: "/v2/keys/w", body: "value=1", ctype: "bad/;;",
			code: apierr.InvalidForm, cause: "mime: expected token after slash"},
		{name: "bad escape on get", method: "GET", target: "/v2/keys/w?a=%",
			code: apierr.InvalidForm, cause: `invalid URL escape "%"`},
		{name: "method", method: "PATCH", target: "/v2/keys/w",
			code: apierr.InvalidField, cause: `method "PATCH" not allowed`},
	}

	// Key length: PUT and POST up to MaxKeyBytes (the cleaned key), reads
	// and deletes of any length.
	longest := "/" + strings.Repeat("k", MaxKeyBytes-1)
	deep := strings.Repeat("/a", MaxKeyBytes/2+1)
	tooLong := fmt.Sprintf("key too long: %d bytes, the limit is %d", MaxKeyBytes+1, MaxKeyBytes)
	cs = append(cs,
		parseCase{name: "longest key", method: "PUT", target: "/v2/keys" + longest, body: "value=1",
			want: write("PUT", longest, func(r *store.Request) { r.Val = "1" })},
		parseCase{name: "longest key after cleaning", method: "PUT", target: "/v2/keys/x/.." + longest + "/", body: "value=1",
			want: write("PUT", longest, func(r *store.Request) { r.Val = "1" })},
		parseCase{name: "key too long", method: "PUT", target: "/v2/keys" + longest + "k", body: "value=1",
			code: apierr.InvalidForm, cause: tooLong},
		parseCase{name: "key too deep", method: "PUT", target: "/v2/keys" + deep + "?dir=true",
			code: apierr.InvalidForm, cause: fmt.Sprintf("key too long: %d bytes, the limit is %d", len(deep), MaxKeyBytes)},
		parseCase{name: "post under too long", method: "POST", target: "/v2/keys" + longest + "k", body: "value=1",
			code: apierr.InvalidForm, cause: tooLong},
		parseCase{name: "get long key", method: "GET", target: "/v2/keys" + longest + "k", want: get(longest+"k", nil)},
		parseCase{name: "delete long key", method: "DELETE", target: "/v2/keys" + longest + "k",
			want: write("DELETE", longest+"k", nil)},
	)

	// Every flag, every spelling etcd (strconv.ParseBool) accepts, and
	// some it refuses.
	for _, name := range []string{"recursive", "sorted", "wait", "stream", "dir", "quorum", "consistent",
		"refresh", "prevExist", "noValueOnSuccess"} {
		cause := fmt.Sprintf("invalid value for %q", name)
		if name == "refresh" || name == "prevExist" {
			cause = "invalid value for " + name
		}
		for _, v := range []string{"yes", "", "2", "tRuE", "on", "%20true"} {
			cs = append(cs, parseCase{name: name + "=" + v, method: "GET",
				target: "/v2/keys/f?" + name + "=" + v, code: apierr.InvalidField, cause: cause})
		}
		cs = append(cs, parseCase{name: name + " bare", method: "GET",
			target: "/v2/keys/f?" + name, code: apierr.InvalidField, cause: cause})
		for _, v := range []string{"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"} {
			c := parseCase{name: name + "=" + v, method: "GET", target: "/v2/keys/f?" + name + "=" + v}
			on := strings.Contains("1 t T TRUE true True", v)
			if name == "refresh" && on {
				// A refresh needs a ttl, whatever the method.
				c.code, c.cause = apierr.RefreshTTLReq, "No TTL value set"
			} else {
				c.want = flagRequest(name, on)
			}
			cs = append(cs, c)
		}
	}
	for _, name := range []string{"waitIndex", "prevIndex"} {
		for _, v := range []string{"x", "-1", "1.5", "+1", "0x10", "1e3", "%201"} {
			cs = append(cs, parseCase{name: name + "=" + v, method: "GET", target: "/v2/keys/f?" + name + "=" + v,
				code: apierr.IndexNaN, cause: fmt.Sprintf("invalid value for %q", name)})
		}
	}
	for _, v := range []string{"x", "-1", "1.5", "+1", "0x1", "99999999999999999999", "1s"} {
		cs = append(cs, parseCase{name: "ttl=" + v, method: "PUT", target: "/v2/keys/f?ttl=" + v,
			code: apierr.TTLNaN, cause: `invalid value for "ttl"`})
	}
	return cs
}

// flagRequest is the GET request for /f with one flag set to v.
func flagRequest(name string, v bool) *keyRequest {
	kr := get("/f", nil)
	switch name {
	case "recursive":
		kr.recursive = v
	case "sorted":
		kr.sorted = v
	case "wait":
		kr.wait = v
	case "stream":
		kr.stream = v
	case "quorum", "consistent":
		kr.quorum = v
	case "noValueOnSuccess":
		kr.noValueOnSuccess = v
	}
	// dir, prevExist and refresh are checked on a GET but change nothing.
	return kr
}

func newParseRequest(t testing.TB, c parseCase) *http.Request {
	t.Helper()
	var body *strings.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	var req *http.Request
	if body != nil {
		req = httptest.NewRequest(c.method, c.target, body)
		ct := c.ctype
		if ct == "" {
			ct = "application/x-www-form-urlencoded"
		}
		req.Header.Set("Content-Type", ct)
	} else {
		req = httptest.NewRequest(c.method, c.target, nil)
	}
	return req
}

func TestParseKeyRequest(t *testing.T) {
	for _, c := range parseCases() {
		t.Run(c.name, func(t *testing.T) {
			kr, err := parseKeyRequest(newParseRequest(t, c), testNow)
			if c.want != nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if !reflect.DeepEqual(kr, c.want) {
					t.Fatalf("got  %+v %+v\nwant %+v %+v", kr, kr.write, c.want, c.want.write)
				}
				return
			}
			var e *apierr.Error
			if !errors.As(err, &e) {
				t.Fatalf("got (%+v, %v), want an *apierr.Error", kr, err)
			}
			if e.Code != c.code || e.Cause != c.cause || e.Index != 0 {
				t.Fatalf("got %d %q index %d, want %d %q index 0", e.Code, e.Cause, e.Index, c.code, c.cause)
			}
		})
	}
}

func TestExpiration(t *testing.T) {
	for _, c := range []struct {
		now  time.Time
		ttl  uint64
		want int64
		ok   bool
	}{
		{time.Unix(0, 0), 0, 0, true},
		{time.Unix(10, 5), 3, 13e9 + 5, true},
		{time.Unix(0, 0), maxTTL, int64(maxTTL) * 1e9, true},
		{time.Unix(0, 0), maxTTL + 1, 0, false},
		{time.Unix(1, 0), maxTTL, 0, false},
		{time.Unix(-10, 0), maxTTL, -10e9 + int64(maxTTL)*1e9, true},
	} {
		got, ok := expiration(c.now, c.ttl)
		if got != c.want || ok != c.ok {
			t.Errorf("expiration(%v, %d) = %d, %v; want %d, %v", c.now.UnixNano(), c.ttl, got, ok, c.want, c.ok)
		}
	}
}
