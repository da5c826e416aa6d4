package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newMkdirCommand(a *app) *cobra.Command {
	var ttl int
	cmd := &cobra.Command{
		Use:   "mkdir <key>",
		Short: "make a new directory",
		Long:  `Create a directory only if nothing exists at <key> yet (error 105 otherwise).`,
		Example: `  arborctl mkdir /example
  arborctl mkdir /here/you/go --ttl 120`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.setDir(args, ttl, client.PrevNoExist)
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", 0, "key time-to-live in seconds")
	return cmd
}

// setDir is mkdir, setdir and updatedir: a PUT dir=true with a TTL and the
// command's prevExist condition.
func (a *app) setDir(args []string, ttl int, prev client.PrevExistType) error {
	c, key, err := a.keyClient(args)
	if err != nil {
		return err
	}
	ctx, cancel := a.commandContext()
	defer cancel()
	resp, err := c.Set(ctx, key, "", client.SetOptions{TTL: time.Duration(ttl) * time.Second, Dir: true, PrevExist: prev})
	if err != nil {
		return a.fail(exitServerError, err)
	}
	return a.printUnlessQuietDir(resp)
}
