package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arbor-kv/arbor/client"
)

func newLsCommand(a *app) *cobra.Command {
	var sorted, recursive, slash, quorum bool
	cmd := &cobra.Command{
		Use:   "ls [key]",
		Short: "retrieve a directory",
		Long: `List the children of a directory (default /). Keys whose name starts with
an underscore are hidden from listings but can be listed by their own path.`,
		Example: `  arborctl ls /
  arborctl ls / --recursive
  arborctl ls --recursive -p /_coreos.com
  arborctl -o json ls --sort /example`,
		RunE: func(cmd *cobra.Command, args []string) error {
			key := "/"
			if len(args) > 0 {
				key = args[0]
			}
			c, err := a.newClient(true)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			resp, err := c.Get(ctx, key, client.GetOptions{Sorted: sorted, Recursive: recursive, Quorum: quorum})
			if err != nil {
				return a.fail(exitServerError, err)
			}
			if a.output != formatSimple {
				return a.printResponse(resp)
			}
			// A key lists as itself; a directory as its children.
			if !resp.Node.Dir {
				fmt.Fprintln(a.stdout, resp.Node.Key)
			}
			for _, n := range resp.Node.Nodes {
				a.printTree(n, slash)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&sorted, "sort", false, "returns result in sorted order")
	f.BoolVarP(&recursive, "recursive", "r", false, "returns all key names recursively for the given path")
	f.BoolVarP(&slash, "p", "p", false, "append slash (/) to directories")
	f.BoolVarP(&quorum, "quorum", "q", false, "require quorum for get request")
	f.BoolVar(&quorum, "consistent", false, "same as --quorum (etcd 0.4's name)")
	return cmd
}

// printTree prints n's key and, depth first, those of its descendants.
func (a *app) printTree(n *client.Node, slash bool) {
	if n.Dir && slash {
		fmt.Fprintln(a.stdout, n.Key+"/")
	} else {
		fmt.Fprintln(a.stdout, n.Key)
	}
	for _, c := range n.Nodes {
		a.printTree(c, slash)
	}
}
