package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMemberRemoveCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove <memberID>",
		Short: "remove an existing member from the etcd cluster",
		Long: `Remove a member by its ID (as member list shows it). Giving a member's name
instead only prints its ID.`,
		Example: `  arborctl member remove 86d3b0c45cec3b16`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return failf(exitBadArgs, "Provide a single member ID\n")
			}
			id := args[0]
			c, err := a.newClient(true)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			ms, err := c.Members(ctx)
			if err != nil {
				return failf(exitBadArgs, "Error while verifying ID against known members: %v\n", err)
			}
			found := false
			for _, m := range ms {
				if m.ID == id {
					found = true
				}
				if m.Name == id {
					fmt.Fprintf(a.stderr, "Found a member named %s; if this is correct, please use its ID, eg:\n\tarborctl member remove %s\n", m.Name, m.ID)
					fmt.Fprintf(a.stderr, "For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n")
				}
			}
			if !found {
				return failf(exitBadArgs, "Couldn't find a member in the cluster with an ID of %s.\n", id)
			}
			if err := c.RemoveMember(ctx, id); err != nil {
				// No newline, as etcdctl.
				return failf(exitBadArgs, "Received an error trying to remove member %s: %v", id, err)
			}
			fmt.Fprintf(a.stdout, "Removed member %s from cluster\n", id)
			return nil
		},
	}
}
