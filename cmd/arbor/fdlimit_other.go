//go:build !unix

package main

// openFileLimit is unknown here: client connections are not capped.
func openFileLimit() uint64 { return 0 }
