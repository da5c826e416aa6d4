package faultnet

import (
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// conn is the dialing side of a connection: its writes carry traffic on
// out, its reads traffic on in.
type conn struct {
	net.Conn
	n       *Network
	out, in link

	closed    chan struct{}
	closeOnce sync.Once

	mu              sync.Mutex
	readDL, writeDL time.Time // guarded by mu
	// dlChanged is closed and replaced when a deadline changes, so a
	// waiting read or write looks at it again. Guarded by mu.
	dlChanged chan struct{}

	readMu     sync.Mutex
	pending    []byte // read but not yet delivered; guarded by readMu
	pendingErr error  // the error that came with pending; guarded by readMu
}

func newConn(n *Network, c net.Conn, out, in link) *conn {
	return &conn{Conn: c, n: n, out: out, in: in, closed: make(chan struct{}), dlChanged: make(chan struct{})}
}

func (c *conn) Write(p []byte) (int, error) {
	if err := c.pass(c.out, false); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Read holds data that arrived while its direction is blocked, and hands
// it over once the block heals, so the byte stream stays intact.
func (c *conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.pending) == 0 {
		n, err := c.Conn.Read(p)
		if n == 0 {
			return 0, err
		}
		c.pending, c.pendingErr = append(c.pending[:0], p[:n]...), err
	}
	if err := c.pass(c.in, true); err != nil {
		return 0, err
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) > 0 {
		return n, nil
	}
	err := c.pendingErr
	c.pendingErr = nil
	return n, err
}

// pass waits while l is blocked, then applies its drop and delay. read
// says which deadline bounds the wait.
func (c *conn) pass(l link, read bool) error {
	for {
		wake, blocked := c.n.check(l)
		if !blocked {
			break
		}
		if err := c.wait(wake, read); err != nil {
			return err
		}
	}
	f := c.n.faultsOf(l)
	if f.drop > 0 && rand.Float64() < f.drop {
		c.Close()
		return ErrDropped
	}
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.closed:
			return net.ErrClosed
		}
	}
	return nil
}

// wait returns when wake is closed, the deadline changes, or with an error
// when the deadline passes or the connection closes.
func (c *conn) wait(wake <-chan struct{}, read bool) error {
	dl, changed := c.deadline(read)
	var timeout <-chan time.Time
	if !dl.IsZero() {
		left := time.Until(dl)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(left)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-wake:
	case <-changed:
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	}
	return nil
}

func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}

func (c *conn) SetDeadline(t time.Time) error {
	c.setDeadlines(&t, &t)
	return c.Conn.SetDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(&t, nil)
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(nil, &t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) setDeadlines(read, write *time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if read != nil {
		c.readDL = *read
	}
	if write != nil {
		c.writeDL = *write
	}
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
}

func (c *conn) deadline(read bool) (time.Time, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if read {
		return c.readDL, c.dlChanged
	}
	return c.writeDL, c.dlChanged
}
