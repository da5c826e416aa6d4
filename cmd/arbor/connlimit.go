package main

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Accepted connections are capped below the process's open-file limit, so
// the member always keeps descriptors for what it opens itself: WAL
// segments, snapshots, connections it dials to peers. Without the cap a
// flood of connections takes the last ones, and every snapshot fails (and
// a WAL segment roll stops the member) until they leave. At the cap Accept
// waits until a connection closes; new ones wait in the kernel's listen
// backlog meanwhile.

// fdReserve is how many descriptors the caps leave for the member itself
// (it needs about 20, plus two per peer).
const fdReserve = 128

// Peer port share of the descriptors: peers, the admin API and joins need
// few connections, so an eighth of what the member can spare, within
// these bounds, is plenty; clients get the rest.
const (
	minPeerConns = 16
	maxPeerConns = 1024
)

// connCaps splits the descriptors the member can spare under an open-file
// limit of fdLimit (all but fdReserve; half at 2*fdReserve or less)
// between the client ports and the peer ports (0, 0: no caps).
func connCaps(fdLimit uint64) (client, peer int) {
	var spare int
	switch {
	case fdLimit == 0 || fdLimit > 1<<30: // unknown or unlimited
		return 0, 0
	case fdLimit <= 2*fdReserve:
		spare = int(fdLimit / 2)
	default:
		spare = int(fdLimit - fdReserve)
	}
	peer = min(max(spare/8, minPeerConns), maxPeerConns, spare/2)
	return spare - peer, peer
}

// connLimiter bounds the connections open at once over every listener it
// wraps.
type connLimiter struct {
	slots   chan struct{}
	kind    string // "client" or "peer", for the log
	log     *slog.Logger
	lastLog atomic.Int64 // unix nanos of the last "cap reached" warning
}

func newConnLimiter(n int, kind string, log *slog.Logger) *connLimiter {
	return &connLimiter{slots: make(chan struct{}, n), kind: kind, log: log}
}

func (l *connLimiter) wrap(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, lim: l, closed: make(chan struct{})}
}

// acquire takes a slot, waiting while none is free; false if closed fired.
func (l *connLimiter) acquire(closed <-chan struct{}) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if now := time.Now().UnixNano(); now-l.lastLog.Load() > int64(10*time.Second) {
		l.lastLog.Store(now)
		l.log.Warn("connection cap reached; new connections wait until others close",
			"port", l.kind, "cap", cap(l.slots))
	}
	select {
	case l.slots <- struct{}{}:
		return true
	case <-closed:
		return false
	}
}

func (l *connLimiter) release() { <-l.slots }

type limitedListener struct {
	net.Listener
	lim       *connLimiter
	closed    chan struct{}
	closeOnce sync.Once
}

func (ln *limitedListener) Accept() (net.Conn, error) {
	if !ln.lim.acquire(ln.closed) {
		return nil, net.ErrClosed
	}
	c, err := ln.Listener.Accept()
	if err != nil {
		ln.lim.release()
		return nil, err
	}
	return &limitedConn{Conn: c, lim: ln.lim}, nil
}

func (ln *limitedListener) Close() error {
	ln.closeOnce.Do(func() { close(ln.closed) })
	return ln.Listener.Close()
}

// limitedConn gives its slot back when it is first closed.
type limitedConn struct {
	net.Conn
	lim  *connLimiter
	once sync.Once
}

// CloseWrite keeps the TCP half-close net/http uses before closing a
// connection whose request body it did not read, so the client gets the
// answer instead of a reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.lim.release)
	return err
}
