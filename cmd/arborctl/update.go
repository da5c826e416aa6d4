package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newUpdateCommand(a *app) *cobra.Command {
	var ttl int
	cmd := &cobra.Command{
		Use:   "update <key> <value>",
		Short: "update an existing key with a given value",
		Long: `Change the value of a key only if it exists (error 100 otherwise). Without
--ttl the key no longer expires. Without a value argument the value is read
from stdin.`,
		Example: `  arborctl update /example/key turtles
  arborctl update --ttl 60 /session/abc alive`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, value, err := a.keyValueArgs(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			resp, err := c.Set(ctx, key, value, client.SetOptions{TTL: time.Duration(ttl) * time.Second, PrevExist: client.PrevExist})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			return a.printResponse(resp)
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	return cmd
}
