package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// RegistryDir is where tokens live in the discovery service's key space,
// by etcd's convention.
const RegistryDir = "/_etcd/registry"

// DefaultSize is the cluster size of a token asked for without one, as the
// public etcd discovery service chose.
const DefaultSize = 3

// KeysAPI is the write path NewHandler needs from the member that hosts
// the registry. Create is called on the request's goroutine with the
// request's context.
type KeysAPI interface {
	// Create sets key (an absolute path such as
	// "/_etcd/registry/<token>/_config/size") to value, creating the
	// directories above it, only if key does not exist yet (a v2 PUT with
	// prevExist=false, committed like any write). Any error, "key exists"
	// included, means no token was handed out.
	Create(ctx context.Context, key, value string) error
}

// NewHandler serves GET (or POST) /new?size=N: it creates a fresh token
// directory RegistryDir/<token> holding _config/size = N (DefaultSize
// without a size; 400 for a size that is not a positive integer) and
// answers the token URL as text/plain without a trailing newline, as the
// public etcd discovery service did:
//
//	http://10.0.0.5:2379/v2/keys/_etcd/registry/6c007a14875d53d9bf0ef5a6fc0257c8
//
// The URL is usable as -discovery directly. publicURL returns the base URL
// clients reach this service at (e.g. "http://10.0.0.5:2379", the member's
// advertised client URL); nil means the request's scheme and Host header.
func NewHandler(keys KeysAPI, publicURL func(r *http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "discovery: use GET /new?size=N", http.StatusMethodNotAllowed)
			return
		}
		size := DefaultSize
		if s := r.FormValue("size"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				http.Error(w, fmt.Sprintf("discovery: size must be a positive integer, not %q", s), http.StatusBadRequest)
				return
			}
			size = n
		}
		dir := RegistryDir + "/" + newToken()
		if err := keys.Create(r.Context(), dir+"/_config/size", strconv.Itoa(size)); err != nil {
			http.Error(w, "discovery: could not create a token: "+err.Error(), http.StatusInternalServerError)
			return
		}
		base := requestBase(r)
		if publicURL != nil {
			base = publicURL(r)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, strings.TrimRight(base, "/")+"/v2/keys"+dir)
	})
}

// newToken is 128 random bits in hex: guessing a live token is hopeless,
// and a clash with an existing one is left to Create's prevExist=false.
func newToken() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: the runtime aborts instead
	return hex.EncodeToString(b)
}

// requestBase is the URL the request came to, without its path.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
