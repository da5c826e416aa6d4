package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newSetdirCommand(a *app) *cobra.Command {
	var ttl int
	cmd := &cobra.Command{
		Use:   "setdir <key>",
		Short: "create a new directory or update an existing directory TTL",
		Long: `Create a directory. As in etcd, an existing directory at <key> is an error
(102 "Not a file"); use updatedir to change a directory's TTL.`,
		Example: `  arborctl setdir /x/y/z
  arborctl setdir /cache --ttl 300`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Like etcdctl, connect (and sync) before looking at the arguments.
			c, err := a.newClient(true)
			if err != nil {
				return err
			}
			key, err := keyArg(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			resp, err := c.Set(ctx, key, "", client.SetOptions{TTL: time.Duration(ttl) * time.Second, Dir: true})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			return a.printUnlessQuietDir(resp)
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	return cmd
}
