package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newUpdatedirCommand(a *app) *cobra.Command {
	var ttl int
	cmd := &cobra.Command{
		Use:   "updatedir <key>",
		Short: "update an existing directory",
		Long: `Update an existing directory (error 100 if there is none): its TTL, or with
no --ttl, make it permanent.`,
		Example: `  arborctl updatedir /here/you/go --ttl 500
  arborctl updatedir /here/you/go`,
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
			resp, err := c.Set(ctx, key, "", client.SetOptions{
				TTL: time.Duration(ttl) * time.Second, Dir: true, PrevExist: client.PrevExist,
			})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			return a.printUnlessQuietDir(resp)
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	return cmd
}
