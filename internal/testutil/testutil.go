// Package testutil holds helpers shared by the tests that start real
// processes (tests/e2e, tests/compat, cmd/arborctl): free loopback ports and
// a buffer a process can write while the test reads it. Test code only.
package testutil

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

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
