package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/internal/version"
)

// newRootCommand builds the whole command tree for one invocation.
func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "arborctl",
		Short: "A simple command line client for Arbor and etcd (v2 API).",
		Long: `arborctl is a command line client for Arbor and etcd's v2 API, compatible
with etcdctl v2: same commands, flags, output formats and exit codes.
Global options go before the command.`,
		Example: `  arborctl --peers 10.1.1.7:4001 ls / --recursive
  arborctl -o extended get /coreos.com/updateengine/rebootlock/semaphore
  ETCDCTL_ENDPOINTS=http://10.1.1.7:2379 arborctl mk /svclocation 10.1.1.20:80`,
		Version:       version.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		// An unknown command reaches RunE as an argument.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return failf(exitNoSuchCommand, "No help topic for '%s'\n", args[0])
			}
			return cmd.Help()
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetVersionTemplate("arborctl version: {{.Version}}\nAPI version: 2\n")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return failf(exitBadArgs, "Error: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	})

	root.Flags().BoolP("version", "v", false, "print the version")
	f := root.PersistentFlags()
	f.BoolVar(&a.debug, "debug", false, "output cURL commands which can be used to reproduce the request")
	f.BoolVar(&a.noSync, "no-sync", false, "don't synchronize cluster information before sending request")
	f.StringVarP(&a.output, "output", "o", formatSimple, "output response in the given `format` (simple, extended or json)")
	f.StringVarP(&a.peers, "peers", "C", "", "DEPRECATED - \"--endpoints\" should be used instead")
	f.StringVar(&a.endpoint, "endpoint", "", "DEPRECATED - \"--endpoints\" should be used instead")
	f.StringVar(&a.endpoints, "endpoints", "", "a comma-delimited list of machine addresses in the cluster (default: \""+defaultEndpoints+"\")")
	f.StringVar(&a.certFile, "cert-file", "", "identify HTTPS client using this SSL certificate file")
	f.StringVar(&a.keyFile, "key-file", "", "identify HTTPS client using this SSL key file")
	f.StringVar(&a.caFile, "ca-file", "", "verify certificates of HTTPS-enabled servers using this CA bundle")
	f.StringVarP(&a.username, "username", "u", "", "provide username[:password] and prompt if password is not supplied.")
	f.DurationVar(&a.timeout, "timeout", 2*time.Second, "connection timeout per request")
	f.DurationVar(&a.totalTimeout, "total-timeout", 5*time.Second, "timeout for the command execution (except watch)")

	root.AddCommand(
		newBackupCommand(a),
		newClusterHealthCommand(a),
		newMkCommand(a),
		newMkdirCommand(a),
		newRmCommand(a),
		newRmdirCommand(a),
		newGetCommand(a),
		newLsCommand(a),
		newSetCommand(a),
		newSetdirCommand(a),
		newUpdateCommand(a),
		newUpdatedirCommand(a),
		newWatchCommand(a),
		newExecWatchCommand(a),
		newMemberCommand(a),
		newCompletionCommand(),
	)
	return root
}

// run executes one invocation and returns the process's exit status.
func run(a *app, args []string) int {
	root := newRootCommand(a)
	root.SetArgs(args)
	err := root.ExecuteContext(a.ctx)
	if err == nil {
		return exitSuccess
	}
	var ee *exitError
	if errors.As(err, &ee) {
		io.WriteString(a.stderr, ee.msg)
		return ee.code
	}
	if errors.Is(err, context.Canceled) && a.interrupted() {
		return exitInterrupted
	}
	// Cobra's own errors: an unknown subcommand or a bad flag.
	fmt.Fprintf(a.stderr, "Error: %v\n", err)
	return exitBadArgs
}
