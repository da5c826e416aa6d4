package main

import (
	"fmt"
	"os/exec"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newExecWatchCommand(a *app) *cobra.Command {
	var recursive bool
	var afterIndex int
	cmd := &cobra.Command{
		Use:   "exec-watch <key> -- <command> [args...]",
		Short: "watch a key for changes and exec an executable",
		Long: `Run a command for every change to a key (with --recursive, to any key under
it) until Ctrl-C, which ends with exit status 0. The command sees the change
in its environment: ETCD_WATCH_ACTION, ETCD_WATCH_KEY, ETCD_WATCH_VALUE and
ETCD_WATCH_MODIFIED_INDEX. Changes to directories themselves are reported on
stderr and skipped. Each command finishes before the next change is
handled. Put "--" before the command so that its flags are not taken for
arborctl's.`,
		Example: `  arborctl exec-watch --recursive /example -- echo "hello"
  arborctl exec-watch /config/app -- sh -c 'echo "$ETCD_WATCH_KEY is now $ETCD_WATCH_VALUE"'
  arborctl exec-watch --after-index 2005 -r /jobs -- ./run-job.sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Like etcdctl, connect (and sync) before looking at the arguments.
			c, err := a.newClient(true)
			if err != nil {
				return err
			}
			key, argv, ok := splitExecArgs(args, cmd.ArgsLenAtDash())
			if !ok {
				return failf(exitBadArgs, "Error:  key and command to exec required\n")
			}
			w := c.Watcher(key, client.WatcherOptions{AfterIndex: uint64(max(afterIndex, 0)), Recursive: recursive})
			for {
				resp, err := w.Next(a.ctx)
				if a.interrupted() {
					return nil
				}
				if err != nil {
					return a.fail(exitServerError, err)
				}
				if resp.Node.Dir {
					fmt.Fprintf(a.stderr, "Ignored dir %s change\n", resp.Node.Key)
					continue
				}
				if err := a.execFor(resp, argv); err != nil {
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	f.IntVar(&afterIndex, "after-index", 0, "watch after the given index")
	f.BoolVarP(&recursive, "recursive", "r", false, "watch all values for key and child keys")
	return cmd
}

// splitExecArgs finds the key and the command in exec-watch's arguments:
// "<key> -- <command> [args...]" (dash is where "--" was, or -1) or, without
// "--", "<key> <command> [args...]".
func splitExecArgs(args []string, dash int) (key string, argv []string, ok bool) {
	if dash < 0 {
		if len(args) < 2 {
			return "", nil, false
		}
		return args[0], args[1:], true
	}
	if dash == 0 || dash >= len(args) {
		return "", nil, false
	}
	return args[0], args[dash:], true
}

// execFor runs argv for one change, with the change in its environment.
// The command's exit status is its own business, as in etcdctl; failing to
// start it at all ends exec-watch.
func (a *app) execFor(resp *client.Response, argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(a.environ(),
		"ETCD_WATCH_ACTION="+resp.Action,
		"ETCD_WATCH_MODIFIED_INDEX="+strconv.FormatUint(resp.Node.ModifiedIndex, 10),
		"ETCD_WATCH_KEY="+resp.Node.Key,
		"ETCD_WATCH_VALUE="+resp.Node.Value,
	)
	cmd.Stdout = a.stdout
	cmd.Stderr = a.stderr
	if err := cmd.Start(); err != nil {
		return failf(exitBadArgs, "%v\n", err)
	}
	cmd.Wait()
	return nil
}
