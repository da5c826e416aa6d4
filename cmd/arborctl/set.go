package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newSetCommand(a *app) *cobra.Command {
	var ttl, swapIndex int
	var swapValue string
	cmd := &cobra.Command{
		Use:   "set <key> <value>",
		Short: "set the value of a key",
		Long: `Set the value of a key, creating it and any missing parent directories.
With --swap-with-value or --swap-with-index, set only if the current value
or modified index matches (compare-and-swap; error 101 otherwise). Without a
value argument the value is read from stdin.

When <value> begins with '-', it is read as a flag. Insert '--' to avoid it:

  arborctl set -- <key> <value>`,
		Example: `  arborctl set /example/key new
  arborctl set /a/b/c here
  arborctl set --ttl 30 /lock held
  arborctl set --swap-with-value old /example/key new
  arborctl set -- /temperature -5`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, value, err := a.keyValueArgs(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			resp, err := c.Set(ctx, key, value, client.SetOptions{
				TTL:       time.Duration(ttl) * time.Second,
				PrevValue: swapValue,
				PrevIndex: uint64(max(swapIndex, 0)),
			})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			return a.printResponse(resp)
		},
	}
	f := cmd.Flags()
	f.IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	f.StringVar(&swapValue, "swap-with-value", "", "previous value")
	f.IntVar(&swapIndex, "swap-with-index", 0, "previous index")
	return cmd
}
