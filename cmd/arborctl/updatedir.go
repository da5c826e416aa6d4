package main

import (
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
			return a.setDir(args, ttl, client.PrevExist)
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	return cmd
}
