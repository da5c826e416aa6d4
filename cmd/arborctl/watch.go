package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newWatchCommand(a *app) *cobra.Command {
	var forever, recursive bool
	var afterIndex int
	cmd := &cobra.Command{
		Use:   "watch <key>",
		Short: "watch a key for changes",
		Long: `Wait for the next change to a key and print it (with --recursive, a change
to any key under it, preceded by "[action] key"). Changes to directories
themselves are not shown. --forever keeps printing changes until Ctrl-C;
Ctrl-C ends the watch with exit status 0. --after-index N starts with the
first change after index N, which may already be in the past.`,
		Example: `  arborctl watch /example/hello
  arborctl watch --recursive /example
  arborctl watch --forever --after-index 2005 -r /services
  while true; do arborctl watch --recursive /example; done`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := a.keyClient(args)
			if err != nil {
				return err
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
					continue
				}
				if recursive {
					fmt.Fprintf(a.stdout, "[%s] %s\n", resp.Action, resp.Node.Key)
				}
				if err := a.printResponse(resp); err != nil {
					return err
				}
				if !forever {
					return nil
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&forever, "forever", "f", false, "forever watch a key until CTRL+C")
	f.IntVar(&afterIndex, "after-index", 0, "watch after the given index")
	f.BoolVarP(&recursive, "recursive", "r", false, "returns all values for key and child keys")
	return cmd
}
