package main

import (
	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newRmCommand(a *app) *cobra.Command {
	var dir, recursive bool
	var withValue string
	var withIndex int
	cmd := &cobra.Command{
		Use:   "rm <key>",
		Short: "remove a key or a directory",
		Long: `Remove a key. A directory needs --dir (empty ones) or --recursive (with
everything in it). With --with-value or --with-index, remove only if the
current value or modified index matches (compare-and-delete).`,
		Example: `  arborctl rm /a/b/c
  arborctl rm /a --recursive
  arborctl rm --dir /x/y/z
  arborctl rm --with-value held /lock`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := a.keyClient(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			resp, err := c.Delete(ctx, key, client.DeleteOptions{
				Dir: dir, Recursive: recursive, PrevValue: withValue, PrevIndex: uint64(max(withIndex, 0)),
			})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			return a.printUnlessQuietDir(resp)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dir, "dir", false, "removes the key if it is an empty directory or a key-value pair")
	f.BoolVarP(&recursive, "recursive", "r", false, "removes the key and all child keys(if it is a directory)")
	f.StringVar(&withValue, "with-value", "", "previous value")
	f.IntVar(&withIndex, "with-index", 0, "previous index")
	return cmd
}
