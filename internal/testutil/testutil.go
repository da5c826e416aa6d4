// Package testutil holds helpers shared by the tests that start real
// processes (tests/e2e, tests/compat, cmd/arborctl): free loopback ports and
// a buffer a process can write while the test reads it. Test code only.
package testutil

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1 and
// that no earlier call in this process returned: the kernel may hand the
// same port out again as soon as the probe closes, and two listeners of
// one member given one port fail to start.
func FreePort(t testing.TB) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		issued.mu.Lock()
		seen := issued.ports[port]
		issued.ports[port] = true
		issued.mu.Unlock()
		if !seen {
			return port
		}
	}
}

// issued holds every port FreePort returned in this process.
var issued = struct {
	mu    sync.Mutex
	ports map[int]bool // guarded by mu
}{ports: map[int]bool{}}

// Buffer collects a process's output; the process's copy goroutines write
// while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Eventually retries f until it returns nil, and fails the test with
// what and f's last error if within passes first. For conditions another
// process reaches in its own time (it sends no notification).
func Eventually(t testing.TB, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
