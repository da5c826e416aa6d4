package main

import (
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
			return a.setDir(args, ttl, client.PrevIgnore)
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	return cmd
}
