package main

import (
	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newRmdirCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rmdir <key>",
		Short:   "removes the key if it is an empty directory or a key-value pair",
		Long:    `Remove an empty directory or a key; a non-empty directory is an error (108).`,
		Example: `  arborctl rmdir /x/y/z`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := a.keyClient(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			resp, err := c.Delete(ctx, key, client.DeleteOptions{Dir: true})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			return a.printUnlessQuietDir(resp)
		},
	}
}
