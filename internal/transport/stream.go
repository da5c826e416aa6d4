package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxBatchBytes is where the writer stops adding queued messages to one
// write; a single larger message still goes out whole.
const maxBatchBytes = 1 << 20

// rejectedError is a peer's refusal of a request, e.g. for a cluster ID
// mismatch.
type rejectedError struct {
	status int
	reason string
}

func (e *rejectedError) Error() string {
	return fmt.Sprintf("transport: peer answered %d %s: %s", e.status, http.StatusText(e.status), e.reason)
}

func rejection(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &rejectedError{status: resp.StatusCode, reason: strings.TrimSpace(string(b))}
}

// stream opens one stream to the peer at base URL u and writes queued
// messages to it until it breaks, the peer is removed or the transport
// stops. connected reports whether the peer accepted the stream.
func (p *peer) stream(u string) (connected bool, err error) {
	ctx, cancel := context.WithCancelCause(p.ctx)
	defer cancel(nil)
	// The watchdog ends a stream whose pongs stop: on a silent network
	// writes keep succeeding into socket buffers and would never fail.
	idle := p.t.cfg.IdleTimeout
	watchdog := time.AfterFunc(idle, func() { cancel(errNoPong) })
	defer watchdog.Stop()

	pr, pw := io.Pipe()
	defer pw.Close()
	unblock := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	defer unblock()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+StreamPath, pr)
	if err != nil {
		return false, err
	}
	req.ContentLength = -1 // chunked, and no probing for an empty body
	p.t.setHeaders(req.Header, p.id)
	resp, err := p.t.client.Do(req)
	if err != nil {
		return false, causeOf(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusGone {
			p.t.noteRemoved()
		}
		return false, rejection(resp)
	}
	p.noteUp(u, cancel)

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		cancel(p.readPongs(resp.Body, watchdog))
	}()
	err = p.writeLoop(ctx, pw)
	cancel(err)
	resp.Body.Close()
	<-readerDone
	return true, causeOf(ctx, err)
}

// writeLoop writes pings and batches of queued messages to w until a write
// fails or ctx ends. Each batch is one write: the HTTP client sends it as
// one chunk and flushes.
func (p *peer) writeLoop(ctx context.Context, w io.Writer) error {
	ping := time.NewTicker(p.t.cfg.PingInterval)
	defer ping.Stop()
	// A ping right away gives a first latency sample and proves the path.
	buf := appendToken(nil, framePing, p.t.token())
	if _, err := w.Write(buf); err != nil {
		return err
	}
	for {
		buf = buf[:0]
		if ctx.Err() != nil {
			// Taking more from the queue would only lose it.
			return context.Cause(ctx)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-ping.C:
			buf = appendToken(buf, framePing, p.t.token())
			if _, err := w.Write(buf); err != nil {
				return err
			}
		case q := <-p.queue:
			var n int
			buf, n = p.fillBatch(buf, q)
			if n == 0 {
				continue
			}
			if _, err := w.Write(buf); err != nil {
				p.fail.Add(uint64(n))
				return err
			}
			p.success.Add(uint64(n))
			p.batches.Add(1)
			p.dropping.Store(false)
		}
		if cap(buf) > 4*maxBatchBytes {
			buf = nil // do not keep the buffer of one huge message
		}
	}
}

// fillBatch encodes first and whatever else is queued, up to
// maxBatchBytes, and returns how many messages it encoded.
func (p *peer) fillBatch(buf []byte, first queued) ([]byte, int) {
	n := 0
	add := func(q queued) {
		p.queuedBytes.Add(-int64(q.size))
		var err error
		if buf, err = appendMessage(buf, &q.m, q.size); err != nil {
			p.fail.Add(1)
			p.log.Error("transport: dropping a message that does not encode", "type", q.m.Type, "err", err)
			return
		}
		n++
	}
	add(first)
	for len(buf) < maxBatchBytes {
		select {
		case q := <-p.queue:
			add(q)
			continue
		default:
		}
		break
	}
	return buf, n
}

// readPongs reads the stream's response: a pong for every ping. Each one
// is a latency sample and proof that the stream still works both ways.
func (p *peer) readPongs(body io.Reader, watchdog *time.Timer) error {
	br := bufio.NewReaderSize(body, 256)
	var buf []byte
	for {
		kind, payload, nb, err := readFrame(br, buf, 64)
		buf = nb
		if err != nil {
			return fmt.Errorf("transport: stream response: %w", err)
		}
		if kind != framePong {
			return fmt.Errorf("transport: stream response: unexpected frame kind %d", kind)
		}
		token, err := decodeToken(payload)
		if err != nil {
			return err
		}
		watchdog.Reset(p.t.cfg.IdleTimeout)
		if now := p.t.token(); token <= now {
			p.observeRTT(time.Duration(now - token))
		}
	}
}

// token is a ping's payload: time since the transport started, from the
// monotonic clock, so the pong alone tells the round trip.
func (t *Transport) token() uint64 { return uint64(time.Since(t.epoch)) }

// causeOf prefers the reason the context was cancelled (no pong, URL
// removed) over the error it caused.
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}
