package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
)

// Errors a Backend's membership methods return for the answers etcd's
// members API gives (409 and 404); anything else is a 500.
var (
	ErrPeerURLExists  = errors.New("etcdserver: peerURL exists")
	ErrMemberNotFound = errors.New("etcdserver: member not found")
)

// maxMemberBody bounds a members request body: a list of URLs.
const maxMemberBody = 64 << 10

// serveMemberAdd answers POST /v2/members {"peerURLs": [...]}: the member
// is added (without a name until it starts and publishes one), as etcd 2+.
func (h *handler) serveMemberAdd(w http.ResponseWriter, r *http.Request) {
	urls, ok := h.readPeerURLs(w, r)
	if !ok {
		return
	}
	m, err := h.b.MemberAdd(r.Context(), urls)
	if err != nil {
		h.writeMemberError(w, r, err, 0)
		return
	}
	b, _ := json.Marshal(toMemberJSON(m))
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, r, http.StatusCreated, append(b, '\n'))
}

// serveMemberChange answers DELETE and PUT /v2/members/<id hex>: remove the
// member, or replace its peer URLs; 204 when done.
func (h *handler) serveMemberChange(w http.ResponseWriter, r *http.Request, idHex string) {
	id, err := strconv.ParseUint(idHex, 16, 64)
	if err != nil || id == 0 {
		writeMessage(w, r, http.StatusNotFound, fmt.Sprintf("No such member: %s", idHex))
		return
	}
	switch r.Method {
	case http.MethodDelete:
		err = h.b.MemberRemove(r.Context(), id)
	case http.MethodPut:
		urls, ok := h.readPeerURLs(w, r)
		if !ok {
			return
		}
		err = h.b.MemberUpdate(r.Context(), id, urls)
	}
	if err != nil {
		h.writeMemberError(w, r, err, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readPeerURLs reads {"peerURLs": [...]}, answering etcd's errors: 415 for
// another content type, 400 for a bad body or URL.
func (h *handler) readPeerURLs(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		writeMessage(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("Bad Content-Type %s, accept application/json", ct))
		return nil, false
	}
	var req struct {
		PeerURLs []string `json:"peerURLs"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxMemberBody)).Decode(&req); err != nil {
		writeMessage(w, r, http.StatusBadRequest, err.Error())
		return nil, false
	}
	if len(req.PeerURLs) == 0 {
		writeMessage(w, r, http.StatusBadRequest, "peerURLs is empty")
		return nil, false
	}
	for _, s := range req.PeerURLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			writeMessage(w, r, http.StatusBadRequest, fmt.Sprintf("URL scheme must be http or https, with a host: %s", s))
			return nil, false
		}
	}
	return req.PeerURLs, true
}

func (h *handler) writeMemberError(w http.ResponseWriter, r *http.Request, err error, id uint64) {
	switch {
	case errors.Is(err, ErrPeerURLExists):
		writeMessage(w, r, http.StatusConflict, ErrPeerURLExists.Error())
	case errors.Is(err, ErrMemberNotFound):
		writeMessage(w, r, http.StatusNotFound, fmt.Sprintf("No such member: %x", id))
	default:
		h.log.Warn("httpapi: membership change failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeMessage(w, r, http.StatusInternalServerError, "Internal Server Error")
	}
}

// writeMessage answers etcd's plain {"message": ...} error form (without a
// trailing newline, as etcd writes it).
func writeMessage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, r, status, b)
}
