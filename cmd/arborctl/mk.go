package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newMkCommand(a *app) *cobra.Command {
	var ttl int
	var inOrder bool
	cmd := &cobra.Command{
		Use:   "mk <key> [value]",
		Short: "make a new key with a given value",
		Long: `Create a key only if it does not exist yet (error 105 otherwise). Without a
value argument the value is read from stdin. With --in-order, <key> is a
directory and a new key with a unique, increasing name is created in it.`,
		Example: `  arborctl mk /svclocation 10.1.1.20:80
  arborctl mk /example/key data --ttl 60
  arborctl mk /config < config.json
  arborctl mk --in-order /queue job1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, value, err := a.keyValueArgs(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			d := time.Duration(ttl) * time.Second
			var resp *client.Response
			if inOrder {
				resp, err = c.CreateInOrder(ctx, key, value, client.CreateInOrderOptions{TTL: d})
			} else {
				resp, err = c.Set(ctx, key, value, client.SetOptions{TTL: d, PrevExist: client.PrevNoExist})
			}
			if err != nil {
				return a.fail(exitServerError, err)
			}
			return a.printResponse(resp)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&inOrder, "in-order", false, "create in-order key under directory <key>")
	f.IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	return cmd
}
