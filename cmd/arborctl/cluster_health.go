package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// healthInterval is how long cluster-health --forever waits between checks.
const healthInterval = 10 * time.Second

func newClusterHealthCommand(a *app) *cobra.Command {
	var forever bool
	cmd := &cobra.Command{
		Use:   "cluster-health",
		Short: "check the health of the etcd cluster",
		Long: `Ask every member, at its published client URLs, whether it is healthy.
The cluster is healthy when all members are (exit status 0), degraded when
some are and unavailable when none is (exit status 5).`,
		Example: `  arborctl cluster-health
  arborctl --endpoints http://10.1.1.7:2379 cluster-health --forever`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newClient(false)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandContext()
			ms, err := c.Members(ctx)
			cancel()
			if err != nil {
				fmt.Fprintln(a.stdout, "cluster may be unhealthy: failed to list members")
				return a.fail(exitServerError, err)
			}
			for {
				healthy := 0
				for _, m := range ms {
					if len(m.ClientURLs) == 0 {
						fmt.Fprintf(a.stdout, "member %s is unreachable: no available published client urls\n", m.ID)
						continue
					}
					checked := false
					for _, u := range m.ClientURLs {
						ctx, cancel := a.commandContext()
						ok, err := c.HealthAt(ctx, u)
						cancel()
						if a.interrupted() {
							return failf(exitInterrupted, "")
						}
						if err != nil {
							fmt.Fprintf(a.stdout, "failed to check the health of member %s on %s: %v\n", m.ID, u, err)
							continue
						}
						checked = true
						if ok {
							healthy++
							fmt.Fprintf(a.stdout, "member %s is healthy: got healthy result from %s\n", m.ID, u)
						} else {
							fmt.Fprintf(a.stdout, "member %s is unhealthy: got unhealthy result from %s\n", m.ID, u)
						}
						break
					}
					if !checked {
						fmt.Fprintf(a.stdout, "member %s is unreachable: %v are all unreachable\n", m.ID, m.ClientURLs)
					}
				}
				switch {
				case healthy == len(ms):
					fmt.Fprintln(a.stdout, "cluster is healthy")
				case healthy > 0:
					fmt.Fprintln(a.stdout, "cluster is degraded")
				default:
					fmt.Fprintln(a.stdout, "cluster is unavailable")
				}
				if !forever {
					if healthy == len(ms) {
						return nil
					}
					return failf(exitClusterNotHealthy, "")
				}
				fmt.Fprintf(a.stdout, "\nnext check after %d second...\n\n", int(healthInterval/time.Second))
				select {
				case <-time.After(healthInterval):
				case <-a.ctx.Done():
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&forever, "forever", "f", false, "forever check the health every 10 second until CTRL+C")
	return cmd
}
