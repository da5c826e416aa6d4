//go:build !linux

package main

import (
	"fmt"
	"io"
)

// promptPassword asks for a password; on this platform the terminal's echo
// stays on.
func promptPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	fmt.Fprint(stderr, prompt)
	return readPasswordLine(stdin)
}
