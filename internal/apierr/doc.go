// Package apierr defines the typed errors of the etcd v2 API: a code from
// etcd's error list, its fixed message, a cause naming what failed, and the
// store index at the time of the failure.
//
// It owns the one table of codes and messages. It does not know about HTTP
// beyond the status code each error code maps to; the httpapi package writes
// the JSON body. Compare codes with errors.As, never by message text:
//
//	var e *apierr.Error
//	if errors.As(err, &e) && e.Code == apierr.KeyNotFound { ... }
package apierr
