package testutil

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a process a test started: its output, and whether and how it
// ended. It is killed (by its own PID) when the test ends, if it still
// runs.
type Proc struct {
	Cmd  *exec.Cmd
	Logs *Buffer // stdout and stderr

	exited chan struct{}
	err    error // set before exited is closed
}

// StartProc starts cmd with its output collected in Logs, tied to the
// test binary's life (DieWithParent) and, unless cmd has its own
// environment, the test's environment without ETCD_* variables (arbor and
// etcd read them: a stray one would change the server under test).
func StartProc(t testing.TB, cmd *exec.Cmd) (*Proc, error) {
	t.Helper()
	p := &Proc{Cmd: cmd, Logs: &Buffer{}, exited: make(chan struct{})}
	if cmd.Env == nil {
		cmd.Env = withoutEtcdVars(os.Environ())
	}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Kill)
	return p, nil
}

// Exited is closed once the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended (nil: exit status 0); valid once Exited
// is closed.
func (p *Proc) Err() error { return p.err }

// Kill sends SIGKILL, if the process still runs, and waits for it.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
	default:
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to end; then
// it kills it and fails the test.
func (p *Proc) Stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.Kill()
		t.Fatalf("process did not stop on SIGTERM within %v\n%s", timeout, p.Logs)
	}
}

// withoutEtcdVars drops ETCD_* variables from env.
func withoutEtcdVars(env []string) []string {
	var kept []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ETCD_") {
			kept = append(kept, kv)
		}
	}
	return kept
}
