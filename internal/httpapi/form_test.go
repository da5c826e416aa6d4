package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// formCases are requests whose parameters parseForm must read exactly as
// net/http's ParseForm does.
var formCases = []struct{ method, query, body, ctype string }{
	{"PUT", "", "value=bar", formURLEncoded},
	{"PUT", "ttl=5", "value=bar&ttl=7", formURLEncoded},
	{"PUT", "value=q", "", formURLEncoded},
	{"PUT", "value=q", "value=b", ""},                                          // no type: body ignored
	{"PUT", "value=q", "value=b", "text/plain"},                                // other type: body ignored
	{"PUT", "", "value=b", "application/x-www-form-urlencoded; charset=utf-8"}, // parameters
	{"PUT", "", "value=b", "Application/X-WWW-Form-Urlencoded"},                // case
	{"PUT", "", "value=b", "application/x-www-form-urlencoded; ="},             // bad parameter
	{"PUT", "", "value=b", "multipart/form-data; boundary=x"},
	{"POST", "", "value=a+b%20c%2Fd", formURLEncoded},
	{"POST", "a=1&a=2", "a=3&a=4", formURLEncoded},
	{"DELETE", "prevValue=x", "prevValue=y", formURLEncoded}, // DELETE: body ignored
	{"GET", "recursive=true&&sorted=true&", "", ""},
	{"GET", "=x&y=&z", "", ""},
	{"PUT", "", "value=%zz", formURLEncoded},
	{"PUT", "value=%zz", "value=ok", formURLEncoded},
	{"PUT", "a=%zz", "b=%yy", formURLEncoded}, // the body's error wins
	{"PUT", "a;b=1", "", formURLEncoded},
	{"PUT", "", "a=1;b=2", formURLEncoded},
	{"PUT", "%41=%42", "%zz=1&ok=1", formURLEncoded},
	{"PUT", strings.Repeat("k=v&", 40), "", formURLEncoded},
	{"PUT", strings.Repeat("k=v&", 16), strings.Repeat("j=w&", 17), formURLEncoded},
	{"PUT", "", strings.Repeat("x", 100), formURLEncoded}, // over the test's body limit
	{"PUT", "", "value=" + strings.Repeat("é", 5), formURLEncoded},
}

func TestParseFormMatchesNetHTTP(t *testing.T) {
	for i, c := range formCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkFormMatches(t, c.method, c.query, c.body, c.ctype)
		})
	}
}

// TestParseFormPlainRequestKeepsNoMap: the usual write is read without
// net/http's maps.
func TestParseFormPlainRequestKeepsNoMap(t *testing.T) {
	r := formRequest("PUT", "ttl=5", "value=hello+world", formURLEncoded)
	f, err := parseForm(r)
	if err != nil {
		t.Fatal(err)
	}
	if f.vals != nil || r.Form != nil {
		t.Fatalf("a plain form went through net/http's parser")
	}
	if v := f.value("value"); v != "hello world" {
		t.Fatalf("value = %q", v)
	}
}

func FuzzParseForm(f *testing.F) {
	for _, c := range formCases {
		f.Add(c.method, c.query, c.body, c.ctype)
	}
	f.Fuzz(func(t *testing.T, method, query, body, ctype string) {
		if strings.ContainsAny(query, "# \r\n\t") || !validMethod(method) {
			t.Skip()
		}
		checkFormMatches(t, method, query, body, ctype)
	})
}

func validMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH":
		return true
	}
	return false
}

const formTestLimit = 64

func formRequest(method, query, body, ctype string) *http.Request {
	r := httptest.NewRequest(method, "http://arbor.test/v2/keys/a", strings.NewReader(body))
	r.URL.RawQuery = query
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, formTestLimit)
	return r
}

// checkFormMatches compares parseForm with ParseForm: the same error text,
// and for every name the same first value.
func checkFormMatches(t *testing.T, method, query, body, ctype string) {
	t.Helper()
	want := formRequest(method, query, body, ctype)
	wantErr := want.ParseForm()
	got, err := parseForm(formRequest(method, query, body, ctype))
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, net/http: %v", err, wantErr)
	}
	if err != nil {
		return
	}
	for name, vs := range want.Form {
		if v, ok := got.get(name); !ok || v != vs[0] {
			t.Errorf("%q = %q (given %v), net/http: %q", name, v, ok, vs[0])
		}
	}
	for _, p := range got.pairs {
		if _, ok := want.Form[p.name]; !ok {
			t.Errorf("%q given, not by net/http", p.name)
		}
	}
	for name := range got.vals {
		if _, ok := want.Form[name]; !ok {
			t.Errorf("%q given, not by net/http", name)
		}
	}
}
