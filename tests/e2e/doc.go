// Package e2e holds process-level tests: they build the real arbor binary,
// start it on free 127.0.0.1 ports with a temporary data dir, and talk to it
// over HTTP as a client would. Each test stops the processes it started (by
// PID) and removes its temp dirs.
package e2e
