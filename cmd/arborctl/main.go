package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	// Ctrl-C ends a watch normally (exit 0), as in etcdctl; other commands
	// stop with exit 130.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	a := &app{
		stdin:   os.Stdin,
		stdout:  os.Stdout,
		stderr:  os.Stderr,
		getenv:  os.Getenv,
		environ: os.Environ,
		ctx:     ctx,
		readPassword: func(prompt string) (string, error) {
			return promptPassword(os.Stdin, os.Stderr, prompt)
		},
	}
	code := run(a, os.Args[1:])
	stop()
	os.Exit(code)
}
