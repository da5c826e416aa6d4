package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newMemberCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "member add, remove and list subcommands",
		Example: `  arborctl member list
  arborctl member add node4 http://10.1.1.10:2380
  arborctl member remove 86d3b0c45cec3b16`,
	}
	cmd.AddCommand(newMemberListCommand(a), newMemberAddCommand(a), newMemberRemoveCommand(a))
	return cmd
}

func newMemberListCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "enumerate existing cluster members",
		Long: `List the members: ID, name, peer and client URLs, and which one leads. A
member that was added but has not started yet shows as "[unstarted]".`,
		Example: `  arborctl member list
  arborctl --endpoints http://10.1.1.7:2379 member list`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return failf(exitBadArgs, "No arguments accepted\n")
			}
			c, err := a.newClient(true)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			ms, err := c.Members(ctx)
			if err != nil {
				return failf(exitBadArgs, "%v\n", err)
			}
			leader, err := c.Leader(ctx)
			if err != nil {
				return failf(exitBadArgs, "Failed to get leader:  %v\n", err)
			}
			for _, m := range ms {
				if m.Name == "" {
					fmt.Fprintf(a.stdout, "%s[unstarted]: peerURLs=%s\n", m.ID, strings.Join(m.PeerURLs, ","))
					continue
				}
				fmt.Fprintf(a.stdout, "%s: name=%s peerURLs=%s clientURLs=%s isLeader=%v\n",
					m.ID, m.Name, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","), m.ID == leader.ID)
			}
			return nil
		},
	}
}
