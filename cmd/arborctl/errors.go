package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/arbor-kv/arbor/client"
)

// Exit codes, as etcdctl v2 uses them; scripts test them.
const (
	exitSuccess           = 0
	exitBadArgs           = 1
	exitBadConnection     = 2
	exitNoSuchCommand     = 3
	exitServerError       = 4
	exitClusterNotHealthy = 5
	// exitInterrupted is what a shell reports for a process killed by
	// SIGINT, which is what happens to etcdctl outside watches.
	exitInterrupted = 130
)

// exitError ends a command: msg goes to stderr as is (it carries its own
// newlines, possibly several lines) and code is the process's exit status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// fail is how a command gives up, worded as etcdctl words it:
// "Error:  <err>" (two spaces: etcdctl prints "Error: " and the error as
// two operands of one Println), followed for a cluster error by the list of
// per-endpoint errors.
func (a *app) fail(code int, err error) error {
	if a.interrupted() {
		return &exitError{code: exitInterrupted}
	}
	msg := fmt.Sprintln("Error: ", err)
	var ce *client.ClusterError
	if errors.As(err, &ce) {
		msg += fmt.Sprintln(ce.Detail())
	}
	return &exitError{code: code, msg: msg}
}

// failf ends a command with a message of its own (no "Error:" prefix).
func failf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// isConnectionError says whether err means the cluster could not be reached
// at all (every endpoint refused or timed out at the network level), as
// opposed to answering badly. Only the former stops a command at the sync
// step; etcd's own header timeout does not count, as in etcdctl.
func isConnectionError(err error) bool {
	var ce *client.ClusterError
	if errors.As(err, &ce) {
		if len(ce.Errors) == 0 {
			return false
		}
		for _, e := range ce.Errors {
			if !isConnectionError(e) {
				return false
			}
		}
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "read") {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !isHeaderTimeout(err)
}

// isHeaderTimeout is the client's per-request timeout, which etcd's client
// reports as a plain error rather than a network one.
func isHeaderTimeout(err error) bool {
	var op *net.OpError
	return errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &op)
}
