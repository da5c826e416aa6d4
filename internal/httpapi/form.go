package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"strings"
)

// form holds a request's parameters as net/http's Request.ParseForm would
// give them in r.Form: the body's (PUT, POST and PATCH with an
// application/x-www-form-urlencoded body) before the query string's, so the
// first value of a name is the body's when it has one.
//
// Most requests carry a handful of plain parameters, which are kept as
// substrings of the body and query in the order sent, with no map and no
// copy: ParseForm's maps and slices were a tenth of a write's allocations.
// Anything unusual (escapes that do not decode, a ';', many parameters, a
// content type other than the plain form one) goes through net/http's own
// parser, so errors and corner cases stay exactly net/http's (and etcd's,
// which calls it).
type form struct {
	pairs []formPair // in order: body, then query; nil when vals is used
	vals  url.Values
}

type formPair struct{ name, value string }

// maxFastFormPairs bounds the pairs kept in order (looked up by a linear
// scan); a request with more is parsed by net/http.
const maxFastFormPairs = 32

// formURLEncoded is the one content type whose body holds parameters.
const formURLEncoded = "application/x-www-form-urlencoded"

// parseForm reads r's parameters. r.Body must already be bounded (with
// http.MaxBytesReader); the error is what r.ParseForm would return.
func parseForm(r *http.Request) (form, error) {
	var body string
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		ct := r.Header.Get("Content-Type")
		switch {
		case r.Body == nil:
			return slowForm(r)
		case ct == formURLEncoded:
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return form{}, err
			}
			body = string(b)
		case ct != "":
			// Parameters, charsets, other types: net/http decides.
			return slowForm(r)
		}
		// No Content-Type: net/http takes it as application/octet-stream
		// and reads no parameters from the body.
	}
	f := form{pairs: make([]formPair, 0, min(maxFastFormPairs, strings.Count(body, "&")+strings.Count(r.URL.RawQuery, "&")+2))}
	if !f.appendPairs(body) || !f.appendPairs(r.URL.RawQuery) {
		return fallbackForm(body, r.URL.RawQuery)
	}
	return f, nil
}

// appendPairs adds the pairs of s in order, or returns false if s is
// anything but plain pairs that decode cleanly, within maxFastFormPairs.
func (f *form) appendPairs(s string) bool {
	if strings.IndexByte(s, ';') >= 0 {
		return false
	}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		if len(f.pairs) == maxFastFormPairs {
			return false
		}
		name, value, _ := strings.Cut(pair, "=")
		var ok bool
		if name, ok = queryUnescape(name); !ok {
			return false
		}
		if value, ok = queryUnescape(value); !ok {
			return false
		}
		f.pairs = append(f.pairs, formPair{name, value})
	}
	return true
}

// queryUnescape decodes s as a query component; s itself when there is
// nothing to decode.
func queryUnescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	v, err := url.QueryUnescape(s)
	return v, err == nil
}

// fallbackForm parses an already read body and the query with net/http's
// parser, combining them and choosing the error as ParseForm does.
func fallbackForm(body, rawQuery string) (form, error) {
	vals, err := url.ParseQuery(body)
	query, qerr := url.ParseQuery(rawQuery)
	if err == nil {
		err = qerr
	}
	for name, vs := range query {
		vals[name] = append(vals[name], vs...)
	}
	return form{vals: vals}, err
}

// slowForm leaves the whole request to ParseForm.
func slowForm(r *http.Request) (form, error) {
	err := r.ParseForm()
	return form{vals: r.Form}, err
}

// get returns the first value of name, and whether the name was given.
func (f form) get(name string) (string, bool) {
	if f.vals != nil {
		vs, ok := f.vals[name]
		if !ok || len(vs) == 0 {
			return "", false
		}
		return vs[0], true
	}
	for _, p := range f.pairs {
		if p.name == name {
			return p.value, true
		}
	}
	return "", false
}

// value returns the first value of name, "" if none.
func (f form) value(name string) string {
	v, _ := f.get(name)
	return v
}

// has says whether name was given at all, even empty.
func (f form) has(name string) bool {
	_, ok := f.get(name)
	return ok
}
