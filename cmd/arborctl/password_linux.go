//go:build linux

package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// promptPassword asks for a password on the terminal with echo turned off,
// as etcdctl does for "--username user" without ":password". When stdin is
// not a terminal the password is read as a plain line.
func promptPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	fmt.Fprint(stderr, prompt)
	f, ok := stdin.(*os.File)
	if !ok {
		return readPasswordLine(stdin)
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return readPasswordLine(stdin)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return readPasswordLine(stdin)
	}
	defer func() {
		unix.IoctlSetTermios(fd, unix.TCSETS, old)
		fmt.Fprintln(stderr)
	}()
	return readPasswordLine(stdin)
}
