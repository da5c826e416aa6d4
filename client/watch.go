package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// WatcherOptions modify a Watcher.
type WatcherOptions struct {
	// AfterIndex makes the first event returned the first one with an index
	// above it; the server's history lets a watcher catch up on events it
	// missed. Zero means events from when the first Next reaches the server.
	AfterIndex uint64
	// Recursive reports changes to every key under the watched one.
	Recursive bool
	// Stream keeps one HTTP response open for many events (the v2 API's
	// stream=true) instead of one long poll per event. Next behaves the
	// same either way.
	Stream bool
}

// Watcher follows changes to a key. Each Next returns the next event; no
// event is skipped between two Nexts, even across reconnections and
// failovers, as long as the server's history still holds it (otherwise
// Next fails with CodeEventIndexCleared). A Watcher is not safe for
// concurrent use.
type Watcher struct {
	c         *Client
	key       string
	recursive bool
	stream    bool

	// waitIndex is the index the next request asks for; 0 means "from
	// now". Invariant: every event below waitIndex was returned (or was
	// before AfterIndex).
	waitIndex uint64

	// open is the current stream=true response, nil when none.
	open *openStream
}

// openStream is a stream=true response being read event by event.
type openStream struct {
	res *result
	dec *json.Decoder
}

// Watcher returns a watcher of key. It does not contact the server.
func (c *Client) Watcher(key string, opts WatcherOptions) *Watcher {
	w := &Watcher{c: c, key: key, recursive: opts.Recursive, stream: opts.Stream}
	if opts.AfterIndex > 0 {
		w.waitIndex = opts.AfterIndex + 1
	}
	return w
}

// Next blocks until the next event and returns it. An error leaves the
// Watcher usable: the next call resumes from the same place. Cancelling
// ctx returns ctx's error.
func (w *Watcher) Next(ctx context.Context) (*Response, error) {
	if w.key == "" {
		return nil, ErrEmptyKey
	}
	for {
		if w.open != nil {
			resp, err := w.readStream(ctx)
			if err == nil {
				return resp, nil
			}
			w.closeStream()
			if !errors.Is(err, errStreamEnded) {
				return nil, err
			}
			// The server closed the stream between events: ask again.
		}
		res, err := w.c.do(ctx, w.request())
		if err != nil {
			return nil, err
		}
		// The headers are written when the server registers the watch, so
		// X-Etcd-Index is "now" for a watch from now. Pin it: if this poll
		// ends without an event, the next one must not start later.
		if w.waitIndex == 0 && res.status == http.StatusOK {
			if idx := headerUint(res.header, "X-Etcd-Index"); idx > 0 {
				w.waitIndex = idx + 1
			}
		}
		if w.stream && res.status == http.StatusOK {
			w.open = &openStream{res: res, dec: json.NewDecoder(res.body)}
			continue
		}
		body, err := readCancelable(ctx, res)
		if err != nil {
			return nil, err
		}
		resp, err := decodeResponse(res.status, res.header, body)
		if errors.Is(err, errEmptyBody) {
			continue
		}
		if err != nil {
			return nil, err
		}
		w.waitIndex = resp.Node.ModifiedIndex + 1
		return resp, nil
	}
}

// errStreamEnded is a stream that ended cleanly between two events.
var errStreamEnded = errors.New("client: watch stream ended")

// readStream decodes the next item of the open stream: an event, or an
// error body the server sent instead of one.
func (w *Watcher) readStream(ctx context.Context) (*Response, error) {
	body := w.open.res.body
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()
	var raw json.RawMessage
	err := w.open.dec.Decode(&raw)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return nil, errStreamEnded
	}
	if err != nil {
		return nil, err
	}
	if e, ok := decodeError(raw); ok {
		return nil, e
	}
	var resp Response
	if err := json.Unmarshal(raw, &resp); err != nil || resp.Node == nil {
		return nil, &UnexpectedResponseError{StatusCode: w.open.res.status, Body: string(raw)}
	}
	setMeta(&resp, w.open.res.header)
	w.waitIndex = resp.Node.ModifiedIndex + 1
	return &resp, nil
}

// closeStream drops the open stream, if any.
func (w *Watcher) closeStream() {
	if w.open != nil {
		w.open.res.body.Close()
		w.open.res.cancel()
		w.open = nil
	}
}

// request is the long poll for the current position.
func (w *Watcher) request() *request {
	q := url.Values{}
	q.Set("wait", "true")
	q.Set("waitIndex", strconv.FormatUint(w.waitIndex, 10))
	q.Set("recursive", strconv.FormatBool(w.recursive))
	if w.stream {
		q.Set("stream", "true")
	}
	return &request{method: http.MethodGet, path: keyPath(w.key), query: q, wait: true}
}

// readCancelable reads the whole body, giving up when ctx ends (a long
// poll's body may not arrive for hours).
func readCancelable(ctx context.Context, res *result) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { res.body.Close() })
	defer stop()
	body, err := res.readAll()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return body, err
}

// WatchResponse is one item of Watch's channel: an event, or the error
// that ended the watch.
type WatchResponse struct {
	*Response
	Err error
}

// Watch follows key on a goroutine and sends each event on the returned
// channel. The first error is sent, then the channel is closed; cancel ctx
// to stop early (the channel is closed once the goroutine has exited, and
// no error is sent for the cancellation).
func (c *Client) Watch(ctx context.Context, key string, opts WatcherOptions) <-chan WatchResponse {
	ch := make(chan WatchResponse)
	w := c.Watcher(key, opts)
	go func() {
		defer close(ch)
		defer w.closeStream()
		for {
			resp, err := w.Next(ctx)
			if ctx.Err() != nil {
				return
			}
			select {
			case ch <- WatchResponse{Response: resp, Err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}
