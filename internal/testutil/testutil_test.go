package testutil

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

func TestFreePortIsBindable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Go(func() { b.Write([]byte("x")) })
	}
	wg.Wait()
	if b.String() != "xxxxxxxxxx" {
		t.Fatalf("got %q", b.String())
	}
}
