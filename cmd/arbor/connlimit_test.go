package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

func TestConnCaps(t *testing.T) {
	for _, tc := range []struct {
		limit        uint64
		client, peer int
	}{
		{0, 0, 0},            // unknown
		{1 << 62, 0, 0},      // unlimited
		{20, 5, 5},           // tiny: half, split evenly at most
		{64, 16, 16},         // small: half, the peers' floor
		{256, 112, 16},       // still half
		{1024, 784, 112},     // all but the reserve, an eighth to peers
		{20000, 18848, 1024}, // the peers' ceiling
	} {
		client, peer := connCaps(tc.limit)
		if client != tc.client || peer != tc.peer {
			t.Errorf("connCaps(%d) = %d, %d; want %d, %d", tc.limit, client, peer, tc.client, tc.peer)
		}
		if tc.limit > 0 && tc.limit < 1<<30 && uint64(client+peer) > tc.limit-min(tc.limit/2, fdReserve) {
			t.Errorf("connCaps(%d) leaves the member fewer than %d descriptors", tc.limit, min(tc.limit/2, fdReserve))
		}
	}
}

// With a cap of two over two listeners, a third connection is accepted
// only once one of the first two closes (closing it twice frees one slot),
// and closing a listener ends an Accept waiting for a slot.
func TestConnLimiter(t *testing.T) {
	lim := newConnLimiter(2, "client", slog.New(slog.NewTextHandler(io.Discard, nil)))
	var lns []net.Listener
	for i := 0; i < 2; i++ {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := lim.wrap(raw)
		defer ln.Close()
		lns = append(lns, ln)
	}
	dial := func(ln net.Listener) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	accepted := make(chan net.Conn, 4)
	failed := make(chan error, 4)
	acceptOne := func(ln net.Listener) {
		go func() {
			c, err := ln.Accept()
			if err != nil {
				failed <- err
				return
			}
			accepted <- c
		}()
	}
	next := func(within time.Duration) net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(within):
			return nil
		}
	}

	dial(lns[0])
	dial(lns[1])
	dial(lns[0])
	acceptOne(lns[0])
	first := next(5 * time.Second)
	acceptOne(lns[1])
	second := next(5 * time.Second)
	if first == nil || second == nil {
		t.Fatal("the first two connections were not accepted")
	}
	acceptOne(lns[0])
	if c := next(100 * time.Millisecond); c != nil {
		t.Fatal("a third connection was accepted over a cap of two")
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	third := next(5 * time.Second)
	if third == nil {
		t.Fatal("closing a connection did not let the next one in")
	}
	dial(lns[1])
	acceptOne(lns[1])
	if c := next(100 * time.Millisecond); c != nil {
		t.Fatal("a double Close freed two slots")
	}
	lns[1].Close()
	select {
	case err := <-failed:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept waiting for a slot ended with %v", err)
		}
	case c := <-accepted:
		t.Fatalf("Accept waiting for a slot on a closed listener returned %v", c.RemoteAddr())
	case <-time.After(5 * time.Second):
		t.Fatal("closing the listener did not end an Accept waiting for a slot")
	}
	if _, err := lns[1].Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	second.Close()
	third.Close()
}

// A capped connection still half-closes: net/http shuts its write side
// before closing a connection whose body it did not read.
func TestLimitedConnCloseWrite(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newConnLimiter(1, "client", slog.New(slog.NewTextHandler(io.Discard, nil))).wrap(raw)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cw, ok := server.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("a capped connection has no CloseWrite")
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := client.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("client read %d, %v after the server's CloseWrite; want EOF", n, err)
	}
	// The read side is still open.
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := server.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("server read %d, %v after its CloseWrite", n, err)
	}
}
