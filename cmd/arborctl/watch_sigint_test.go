package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// TestSIGINTEndsWatchForever runs the real main in a child process: a
// "watch --forever" that has printed changes and waits for more ends on
// Ctrl-C with status 0, nothing on stderr, and every change it printed
// left intact on stdout. (TestSIGINT covers a watch still waiting for its
// first change.)
func TestSIGINTEndsWatchForever(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	events := []string{
		`{"action":"set","node":{"key":"/k/a","value":"one","modifiedIndex":5,"createdIndex":5}}`,
		`{"action":"set","node":{"key":"/k/b","value":"two","modifiedIndex":6,"createdIndex":6}}`,
	}
	var polls atomic.Int32
	idle := make(chan struct{})
	s := newStub(t, map[string]http.HandlerFunc{
		"GET /v2/keys/k": func(w http.ResponseWriter, r *http.Request) {
			n := int(polls.Add(1))
			if n <= len(events) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Etcd-Index", fmt.Sprint(4+n))
				fmt.Fprintln(w, events[n-1])
				return
			}
			// Every change was printed; the watch now waits for the next.
			if n == len(events)+1 {
				close(idle)
			}
			<-r.Context().Done()
		},
	})
	cmd := exec.Command(self, "--no-sync", "--endpoints", s.URL, "watch", "--forever", "--recursive", "/k")
	cmd.Env = beMainEnv("PATH=" + os.Getenv("PATH"))
	var stdout, stderr testutil.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	testutil.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-idle:
	case err := <-exited:
		t.Fatalf("watch --forever ended by itself (%v); stdout %q, stderr %q", err, stdout.String(), stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("watch --forever never asked for a third change; stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	err = <-exited
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Errorf("exit %v after SIGINT, want status 0", ee)
	} else if err != nil {
		t.Fatal(err)
	}
	if want := "[set] /k/a\none\n[set] /k/b\ntwo\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if stderr.String() != "" {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
}
