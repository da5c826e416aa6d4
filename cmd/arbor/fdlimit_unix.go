//go:build unix

package main

import "syscall"

// openFileLimit is the soft RLIMIT_NOFILE (which the Go runtime raises to
// the hard limit at start), or 0 if unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return uint64(rl.Cur)
}
