package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

const keysPrefix = "/v2/keys"

// MaxKeyBytes is the longest key (cleaned path) a PUT or POST may create.
// Every missing parent directory is a node holding its own full path, so
// one key d levels deep costs the store about d*len(key)/2 bytes: without
// a bound, one 80 KB request 40,000 levels deep took 1.6 GB and stalled
// every write for 5 s. etcd 3.4 drops any request line over about 4 KB,
// so no key it accepts is refused here; reads and deletes are not limited.
const MaxKeyBytes = 4096

// keyRequest is a parsed /v2/keys request.
type keyRequest struct {
	method string // GET, HEAD, PUT, POST or DELETE
	key    string // cleaned absolute key path; "/" is the root

	// Reads and watches.
	recursive bool
	sorted    bool
	quorum    bool // quorum=true or consistent=true
	wait      bool
	stream    bool
	waitIndex uint64

	// noValueOnSuccess drops node and prevNode from a successful
	// set/create/update/compareAndSwap answer.
	noValueOnSuccess bool

	// write is the request to propose for PUT, POST and DELETE; nil for
	// reads.
	write *store.Request
}

// keyFromPath returns the key a /v2/keys URL path names, cleaned, or
// ok=false when the path is not under /v2/keys.
func keyFromPath(p string) (key string, ok bool) {
	p = cleanPath(p)
	if p != keysPrefix && !strings.HasPrefix(p, keysPrefix+"/") {
		return "", false
	}
	return cleanPath(p[len(keysPrefix):]), true
}

// cleanPath is path.Clean of p made absolute. It allocates only when p
// changes: a clean absolute path, the usual case, comes back as is.
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p)
}

// parseKeyRequest reads a /v2/keys request's parameters the way etcd 3.4
// does: from the query string and, for PUT and POST, an
// application/x-www-form-urlencoded body (body values win over query values
// of the same name; for each name the first value counts). The checks run
// in etcd's order, so a request with several bad parameters gets the same
// error as from etcd. The caller limits r.Body's size beforehand with
// http.MaxBytesReader.
//
// now is the time a TTL counts from. Every failure is an *apierr.Error with
// index 0, as etcd reports parameter errors.
func parseKeyRequest(r *http.Request, now time.Time) (*keyRequest, error) {
	// net/http reads the body only for POST, PUT and PATCH, so a DELETE's
	// form body is ignored, exactly as etcd (which uses the same call)
	// ignores it.
	form, err := parseForm(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apierr.Newf(apierr.InvalidForm, 0,
				"request body too large: the limit is %d bytes", tooBig.Limit)
		}
		return nil, apierr.New(apierr.InvalidForm, err.Error(), 0)
	}

	kr := &keyRequest{method: r.Method}
	key, ok := keyFromPath(r.URL.Path)
	if !ok {
		return nil, apierr.New(apierr.InvalidForm, "incorrect key prefix", 0)
	}
	kr.key = key

	prevIndex, err := formUint(form, "prevIndex")
	if err != nil {
		return nil, apierr.New(apierr.IndexNaN, `invalid value for "prevIndex"`, 0)
	}
	if kr.waitIndex, err = formUint(form, "waitIndex"); err != nil {
		return nil, apierr.New(apierr.IndexNaN, `invalid value for "waitIndex"`, 0)
	}

	var dir, consistent bool
	for _, f := range []struct {
		name string
		dst  *bool
	}{
		{"recursive", &kr.recursive},
		{"sorted", &kr.sorted},
		{"wait", &kr.wait},
		{"dir", &dir},
		{"quorum", &kr.quorum},
		{"stream", &kr.stream},
		// etcd 3.4 ignores consistent; etcd 0.4 clients send it for a
		// read from the leader, which quorum gives. Checked like the
		// other flags so that a typo does not silently weaken the read.
		{"consistent", &consistent},
	} {
		if *f.dst, err = formBool(form, f.name); err != nil {
			return nil, apierr.Newf(apierr.InvalidField, 0, "invalid value for %q", f.name)
		}
	}
	kr.quorum = kr.quorum || consistent

	if kr.wait && r.Method != http.MethodGet {
		return nil, apierr.New(apierr.InvalidField, `"wait" can only be used with GET requests`, 0)
	}

	prevValue, given := form.get("prevValue")
	if given && prevValue == "" {
		return nil, apierr.New(apierr.PrevValueReq, `"prevValue" cannot be empty`, 0)
	}

	if kr.noValueOnSuccess, err = formBool(form, "noValueOnSuccess"); err != nil {
		return nil, apierr.New(apierr.InvalidField, `invalid value for "noValueOnSuccess"`, 0)
	}

	// An empty ttl= means "no TTL" (it is how clients clear one).
	var ttl *uint64
	if form.value("ttl") != "" {
		v, err := formUint(form, "ttl")
		if err != nil || v > maxTTL {
			return nil, apierr.New(apierr.TTLNaN, `invalid value for "ttl"`, 0)
		}
		ttl = &v
	}

	var prevExist *bool
	if form.has("prevExist") {
		v, err := formBool(form, "prevExist")
		if err != nil {
			// etcd quotes the name for every flag but this one and refresh.
			return nil, apierr.New(apierr.InvalidField, "invalid value for prevExist", 0)
		}
		prevExist = &v
	}

	var refresh bool
	if form.has("refresh") {
		if refresh, err = formBool(form, "refresh"); err != nil {
			return nil, apierr.New(apierr.InvalidField, "invalid value for refresh", 0)
		}
		if refresh {
			if form.value("value") != "" {
				return nil, apierr.New(apierr.RefreshValue, "A value was provided on a refresh", 0)
			}
			if ttl == nil {
				return nil, apierr.New(apierr.RefreshTTLReq, "No TTL value set", 0)
			}
		}
	}

	var m store.Method
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return kr, nil
	case http.MethodPut:
		m = store.MethodPut
	case http.MethodPost:
		m = store.MethodPost
	case http.MethodDelete:
		m = store.MethodDelete
	default:
		// The router answers 405 before parsing; this keeps the function
		// total for direct callers such as the fuzz test.
		return nil, apierr.Newf(apierr.InvalidField, 0, "method %q not allowed", r.Method)
	}
	if m != store.MethodDelete && len(kr.key) > MaxKeyBytes {
		return nil, apierr.Newf(apierr.InvalidForm, 0, "key too long: %d bytes, the limit is %d", len(kr.key), MaxKeyBytes)
	}
	w := &store.Request{
		Method:    m,
		Path:      kr.key,
		Val:       form.value("value"),
		Dir:       dir,
		PrevValue: prevValue,
		PrevIndex: prevIndex,
		PrevExist: prevExist,
		Refresh:   refresh,
		Recursive: kr.recursive,
		Time:      now.UnixNano(),
	}
	if ttl != nil {
		exp, ok := expiration(now, *ttl)
		if !ok {
			return nil, apierr.New(apierr.TTLNaN, `invalid value for "ttl"`, 0)
		}
		w.Expiration = exp
	}
	kr.write = w
	return kr, nil
}

// maxTTL is the largest ttl in seconds whose duration fits in an int64 of
// nanoseconds. etcd lets a larger one overflow into a nonsense expiration
// (a key that expires at once, or never); we refuse it.
const maxTTL = uint64(math.MaxInt64 / int64(time.Second))

// expiration is now+ttl seconds in Unix nanoseconds, or ok=false when that
// does not fit in an int64 (past the year 2262).
func expiration(now time.Time, ttl uint64) (int64, bool) {
	if ttl > maxTTL {
		return 0, false
	}
	base := now.UnixNano()
	d := int64(ttl) * int64(time.Second)
	if base > 0 && d > math.MaxInt64-base {
		return 0, false
	}
	return base + d, true
}

// formBool parses the first value of name with strconv.ParseBool, the
// spellings etcd accepts (1 t T TRUE true True 0 f F FALSE false False).
// A missing name is false.
func formBool(f form, name string) (bool, error) {
	v, ok := f.get(name)
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("httpapi: %s: %w", name, err)
	}
	return b, nil
}

// formUint parses the first value of name as a base-10 uint64 (no sign, no
// prefix, as etcd). A missing name is 0.
func formUint(f form, name string) (uint64, error) {
	v, ok := f.get(name)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("httpapi: %s: %w", name, err)
	}
	return n, nil
}
