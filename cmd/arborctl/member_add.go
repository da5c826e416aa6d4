package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func newMemberAddCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "add <name> <peerURL>",
		Short: "add a new member to the etcd cluster",
		Long: `Announce a new member by its peer URL, then print the settings to start it
with (ETCD_NAME, ETCD_INITIAL_CLUSTER, ETCD_INITIAL_CLUSTER_STATE). The
member counts towards the quorum from now on: start it promptly.`,
		Example: `  arborctl member add node4 http://10.1.1.10:2380`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return failf(exitBadArgs, "Provide a name and a single member peerURL\n")
			}
			name, peerURL := args[0], args[1]
			c, err := a.newClient(true)
			if err != nil {
				return err
			}
			if err := checkPeerURL(peerURL); err != nil {
				return failf(exitBadArgs, "%v\n", err)
			}
			ctx, cancel := a.commandContext()
			defer cancel()
			m, err := c.AddMember(ctx, peerURL)
			if err != nil {
				return failf(exitBadArgs, "%v\n", err)
			}
			fmt.Fprintf(a.stdout, "Added member named %s with ID %s to cluster\n", name, m.ID)
			ms, err := c.Members(ctx)
			if err != nil {
				return failf(exitBadArgs, "%v\n", err)
			}
			var initial []string
			for _, mm := range ms {
				n := mm.Name
				if mm.ID == m.ID {
					n = name
				}
				for _, u := range mm.PeerURLs {
					initial = append(initial, n+"="+u)
				}
			}
			fmt.Fprintf(a.stdout, "\nETCD_NAME=%q\nETCD_INITIAL_CLUSTER=%q\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
				name, strings.Join(initial, ","))
			return nil
		},
	}
}

// checkPeerURL applies etcd's rules for a member URL, with its messages:
// a known scheme, host:port, no path.
func checkPeerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https", "unix", "unixs":
	default:
		return fmt.Errorf("URL scheme must be http, https, unix, or unixs: %s", s)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return fmt.Errorf("URL address does not have the form \"host:port\": %s", s)
	}
	if u.Path != "" {
		return fmt.Errorf("URL must not contain a path: %s", s)
	}
	return nil
}
