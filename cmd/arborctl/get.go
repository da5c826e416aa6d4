package main

import (
	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newGetCommand(a *app) *cobra.Command {
	var sorted, quorum bool
	cmd := &cobra.Command{
		Use:   "get <key>",
		Short: "retrieve the value of a key",
		Long: `Print the value of a key. A directory has no value: get says so on stderr
and exits with 1 (use ls).`,
		Example: `  arborctl get /svclocation
  arborctl -o extended get /coreos.com/updateengine/rebootlock/semaphore
  arborctl get --quorum /_etcd/machines/2ddbdb7c872b4bc59dd1969ac166501e`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := a.keyClient(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			resp, err := c.Get(ctx, key, client.GetOptions{Sorted: sorted, Quorum: quorum})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			if resp.Node.Dir {
				return failf(exitBadArgs, "%s: is a directory\n", resp.Node.Key)
			}
			return a.printResponse(resp)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&sorted, "sort", false, "returns result in sorted order")
	f.BoolVarP(&quorum, "quorum", "q", false, "require quorum for get request")
	f.BoolVar(&quorum, "consistent", false, "same as --quorum (etcd 0.4's name)")
	return cmd
}
