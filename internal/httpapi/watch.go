package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
)

// WatchGuard is implemented by a Backend whose member can be cut off from
// the cluster's leader (Backends with no leader to lose, such as tests'
// fakes, need not). Safe for concurrent use.
type WatchGuard interface {
	// WatchContext derives from ctx the context a watch runs in. It ends,
	// with an *apierr.Error as its cause (context.Cause), when the member
	// is cut off from the leader and can serve no new event. A member cut
	// off already returns that error instead. The caller calls cancel when
	// the watch ends.
	WatchContext(ctx context.Context) (wctx context.Context, cancel context.CancelFunc, err error)
}

// serveWatch answers wait=true. Errors before the watch starts are ordinary
// JSON errors, among them a member cut off from the leader (HTTP 500, on
// which clients move to another member). After that the status line and
// headers are out (flushed at once, as etcd does, so a long-polling client
// knows it is registered), and the body is one event for a long poll, or
// one event per line for a stream, until the client leaves, the server
// shuts down (r.Context() ends), the watcher fails, which simply ends the
// body as in etcd, or the member is cut off from the leader (see
// endCutOff).
func (h *handler) serveWatch(w http.ResponseWriter, r *http.Request, kr *keyRequest, st Status) {
	ctx := r.Context()
	if g, ok := h.b.(WatchGuard); ok {
		wctx, cancel, err := g.WatchContext(ctx)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		defer cancel()
		ctx = wctx
	}
	wa, err := h.b.Watch(kr.key, kr.recursive, kr.stream, kr.waitIndex)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer wa.Close()
	watchesActive.Inc()
	defer watchesActive.Dec()

	setRaftHeaders(w.Header(), wa.StartIndex(), st)
	var body watchBody
	if kr.stream {
		if raw, sctx, closeRaw := takeOverStream(ctx, w, r); raw != nil {
			defer closeRaw()
			body, ctx = raw, sctx
		}
	}
	if body == nil {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		// A watch may rightly stay open for hours: the server's write timeout
		// (-http-write-timeout) is for ordinary requests, so lift it here.
		_ = rc.SetWriteDeadline(time.Time{})
		// A failed flush means the client is gone; Next sees the same through
		// the context.
		_ = rc.Flush()
		body = netHTTPBody{w: w, rc: rc}
	}
	pace := streamPacer{interval: h.streamFlushInterval}
	defer pace.stop()
	for {
		ev, err := wa.Next(ctx)
		if err != nil {
			var cut *apierr.Error
			if r.Context().Err() == nil && errors.As(context.Cause(ctx), &cut) {
				h.endCutOff(body, kr, cut)
				return
			}
			if !errors.Is(err, io.EOF) {
				h.log.Debug("httpapi: watch ended", "key", kr.key, "err", err)
			}
			return
		}
		if _, err := body.Write(ev.Encode()); err != nil {
			return
		}
		if !kr.stream {
			return
		}
		// A stream written to moments ago waits out the flush interval,
		// so that under a steady flow of events each write (one syscall
		// here, one wake-up of the reader) carries several of them. An
		// ended ctx is seen again by the blocking Next above.
		pace.wait(ctx)
		// Events already queued go out with this one: one flush for all
		// of them. A watcher that fell behind under load catches up in
		// fewer, larger writes instead of adding a syscall per event. An
		// error here is seen again by the blocking Next above.
		batched := 1
		for ; batched <= maxCoalesced; batched++ {
			ev, err := wa.Next(noWait)
			if err != nil {
				break
			}
			if _, err := body.Write(ev.Encode()); err != nil {
				return
			}
		}
		if err := body.Flush(); err != nil {
			return
		}
		pace.flushed()
		if batched > 1 {
			// Events are coming faster than the interval: the next ones
			// will have to wait it out anyway, so wait now, before Next,
			// and wake once per write (for the timer) instead of also for
			// the first event of each batch. A stream whose last write
			// carried one event waits for its next event instead, which
			// then goes out at once if the interval has passed.
			pace.wait(ctx)
		}
	}
}

// streamPacer keeps a stream's writes at least interval apart.
type streamPacer struct {
	interval  time.Duration
	lastFlush time.Time
	timer     *time.Timer // made on the first wait
}

// wait returns once interval has passed since the last flush, or when ctx
// ends.
func (p *streamPacer) wait(ctx context.Context) {
	if p.interval <= 0 {
		return
	}
	d := p.interval - time.Since(p.lastFlush)
	if d <= 0 {
		return
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
	case <-ctx.Done():
	}
}

func (p *streamPacer) flushed() {
	if p.interval > 0 {
		p.lastFlush = time.Now()
	}
}

func (p *streamPacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

// maxCoalesced bounds the events written per flush of a stream, so one
// busy watcher still lets its connection's buffer drain regularly.
const maxCoalesced = 64

// noWait is a context that has already ended: Next with it returns a
// queued event or gives up at once.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// endCutOff ends a watch whose member was cut off from the leader. A stream
// gets the error as its last line, in etcd's error form, which stream
// readers decode like an event. A long poll ends with an empty body: its
// status (200) is already out, and etcd's own Go client takes any non-empty
// 200 body for an event (an error object there makes it dereference a nil
// node and panic), while an empty one makes every v2 client poll again, and
// that poll gets the same error as a 500, on which clients move to another
// member.
func (h *handler) endCutOff(body watchBody, kr *keyRequest, cut *apierr.Error) {
	h.log.Debug("httpapi: watch ended: member cut off from the leader", "key", kr.key, "stream", kr.stream)
	if !kr.stream {
		return
	}
	line, err := json.Marshal(cut)
	if err != nil {
		return // four plain fields cannot fail to marshal
	}
	if _, err := body.Write(append(line, '\n')); err == nil {
		_ = body.Flush()
	}
}
