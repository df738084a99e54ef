package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newPortCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			e, err := c.lookup(cmd.Context(), args[0], true, false)
			if err != nil {
				return err
			}
			if !e.managed() {
				return fmt.Errorf("container %s was not made by crid run: its ports are its pod's (crictl inspectp)", args[0])
			}
			want := ""
			if len(args) == 2 {
				want = args[1]
				if !strings.Contains(want, "/") {
					want += "/tcp"
				}
			}
			found := false
			for _, p := range e.rec.Ports {
				private := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
				if want != "" && private != want {
					continue
				}
				found = true
				ip := p.HostIP
				if ip == "" {
					ip = "0.0.0.0"
				}
				if want != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "%s:%d\n", ip, p.HostPort)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s:%d\n", private, ip, p.HostPort)
				}
			}
			if want != "" && !found {
				return fmt.Errorf("no public port '%s' published for %s", want, args[0])
			}
			return nil
		},
	}
}
