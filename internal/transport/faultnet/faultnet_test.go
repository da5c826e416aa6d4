package faultnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echo serves member id on a fresh port, echoing every connection.
func echo(t *testing.T, nw *Network, id uint64) string {
	t.Helper()
	ln, err := nw.Listen(id, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, nw *Network, from uint64, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := nw.Dialer(from)(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != msg {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

func TestBlockStopsWritesUntilHeal(t *testing.T) {
	nw := New()
	c := dial(t, nw, 1, echo(t, nw, 2))
	roundTrip(t, c, "before")

	nw.Block(1, 2)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write on a blocked link: %v, want deadline exceeded", err)
	}
	c.SetWriteDeadline(time.Time{})
	written := make(chan error, 1)
	go func() { _, err := c.Write([]byte("after")); written <- err }()
	select {
	case err := <-written:
		t.Fatalf("write went through a blocked link: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	nw.Heal()
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "after" {
		t.Fatalf("after heal read %q, %v", got, err)
	}
}

func TestBlockedReadKeepsDataForAfterHeal(t *testing.T) {
	nw := New()
	c := dial(t, nw, 1, echo(t, nw, 2))
	nw.Block(2, 1) // the echo comes back on this direction
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 4)
	if n, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a blocked link: %d bytes, %v", n, err)
	}
	nw.Heal()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after heal read %q, %v", buf, err)
	}
}

func TestDeadlineChangeWakesBlockedRead(t *testing.T) {
	nw := New()
	c := dial(t, nw, 1, echo(t, nw, 2))
	nw.Block(2, 1)
	c.Write([]byte("x"))
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	time.Sleep(10 * time.Millisecond) // let the read block; the check below holds either way
	c.SetReadDeadline(time.Now())
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v, want deadline exceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline in the past did not end a blocked read")
	}
}

func TestPartitionHoldsDialsUntilHeal(t *testing.T) {
	nw := New()
	addr := echo(t, nw, 2)
	nw.Partition([]uint64{1}, []uint64{2})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := nw.Dialer(1)(ctx, "tcp", addr); err == nil {
		t.Fatal("dial across a partition succeeded")
	}
	// Member 3 is not partitioned from 2.
	roundTrip(t, dial(t, nw, 3, addr), "other side")

	dialed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := nw.Dialer(1)(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	nw.Heal()
	if err := <-dialed; err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
}

func TestIsolateBlocksEveryLink(t *testing.T) {
	nw := New()
	addr := echo(t, nw, 2)
	c := dial(t, nw, 1, addr)
	nw.Isolate(2)
	c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to an isolated member: %v", err)
	}
	nw.Heal()
	c.SetWriteDeadline(time.Time{})
	roundTrip(t, c, "back")
}

func TestDelayAddsLatency(t *testing.T) {
	nw := New()
	c := dial(t, nw, 1, echo(t, nw, 2))
	nw.Delay(1, 2, 30*time.Millisecond)
	nw.Delay(2, 1, 30*time.Millisecond)
	start := time.Now()
	roundTrip(t, c, "slow")
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Fatalf("round trip took %v with 30ms each way", took)
	}
}

func TestDropBreaksTheConnection(t *testing.T) {
	nw := New()
	c := dial(t, nw, 1, echo(t, nw, 2))
	nw.Drop(1, 2, 1)
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrDropped) {
		t.Fatalf("write with drop 1: %v", err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("dropped connection still writes")
	}
	nw.Heal()
	roundTrip(t, dial(t, nw, 1, c.RemoteAddr().String()), "new connection")
}

func TestCloseEndsABlockedWrite(t *testing.T) {
	nw := New()
	c := dial(t, nw, 1, echo(t, nw, 2))
	nw.Block(1, 2)
	done := make(chan error, 1)
	go func() { _, err := c.Write([]byte("x")); done <- err }()
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked write after close: %v", err)
	}
}
