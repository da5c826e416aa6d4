package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// Causes etcd 3.4 gives when a v2 request does not finish in time or is
// abandoned. Clients only look at the error code (300), but the texts are
// kept identical so that logs and scripts written against etcd read the same.
const (
	causeTimeout  = "etcdserver: request timed out"
	causeCanceled = "etcdserver: request cancelled"
	causeInternal = "arbor: internal error"
)

// toAPIError turns any error a handler or the Backend returns into the
// etcd error the client sees. Errors that are not *apierr.Error are the
// server's fault: etcd answers them all with 300 Raft Internal Error (HTTP
// 500) and the error text as the cause, so we do the same.
func toAPIError(err error) *apierr.Error {
	var e *apierr.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return apierr.New(apierr.RaftInternal, causeTimeout, 0)
	case errors.Is(err, context.Canceled):
		return apierr.New(apierr.RaftInternal, causeCanceled, 0)
	}
	return apierr.New(apierr.RaftInternal, err.Error(), 0)
}

// writeError is the one place an error becomes a response: status from the
// code, JSON body with a trailing newline (as etcd writes it), and the
// error's index in X-Etcd-Index.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toAPIError(err)
	var ae *apierr.Error
	if !errors.As(err, &ae) && !errors.Is(err, context.Canceled) {
		// Not the client's doing: worth a line in the log.
		h.log.Warn("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body, merr := json.Marshal(e)
	if merr != nil {
		// Marshalling four plain fields cannot fail; if it ever does, the
		// client still gets a well-formed answer.
		body = []byte(`{"errorCode":300,"message":"Raft Internal Error","index":0}`)
	}
	body = append(body, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Etcd-Index", strconv.FormatUint(e.Index, 10))
	writeBody(w, r, e.StatusCode(), body)
}

// writeBody writes status and body; for HEAD only the headers, with the
// length the body would have had.
func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	// A failed write means the client is gone; there is no one to tell.
	_, _ = w.Write(body)
}

// logPanic records a recovered panic with enough context to find the bug.
func logPanic(log *slog.Logger, r *http.Request, v any, stack []byte) {
	log.Error("httpapi: panic serving request", "method", r.Method, "url", r.URL.String(),
		"panic", v, "stack", string(stack))
}
