package cli

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func newExecCommand(g *globals) *cobra.Command {
	var interactive, tty, all bool
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tty && !isTerminal(os.Stdin) {
				return errors.New("the input device is not a TTY")
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			e, err := c.lookup(ctx, args[0], all, true)
			if err != nil {
				return err
			}
			if e.ctr.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
				return errors.New("container " + args[0] + " is not running")
			}
			resp, err := c.rt.Exec(ctx, &runtimeapi.ExecRequest{
				ContainerId: e.containerID(), Cmd: args[1:], Tty: tty, Stdin: interactive, Stdout: true, Stderr: !tty,
			})
			if err != nil {
				return rpcError("exec", err)
			}
			code, _, err := stream(ctx, resp.GetUrl(), interactive, tty)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&interactive, "interactive", "i", false, "keep STDIN open")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	addAllNamespaces(cmd, &all)
	return cmd
}

// attach connects this terminal or stdin/stdout to a running container's; detached is
// true when the user typed the detach keys.
func (c *client) attach(ctx context.Context, id string, stdin, tty bool) (detached bool, err error) {
	resp, err := c.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Stdin: stdin, Tty: tty, Stdout: true, Stderr: !tty})
	if err != nil {
		return false, rpcError("attach", err)
	}
	_, detached, err = stream(ctx, resp.GetUrl(), stdin, tty)
	return detached, err
}

// stream runs one session with this process's stdio, the terminal raw with -t.
func stream(ctx context.Context, url string, stdin, tty bool) (code int, detached bool, err error) {
	s := session{stdout: os.Stdout, stderr: os.Stderr, tty: tty}
	var keys *detachReader
	if stdin {
		keys = newDetachReader(os.Stdin)
		s.stdin = keys
	}
	if tty {
		t, err := openTerminal(os.Stdin, os.Stdout)
		if err != nil {
			return 0, false, err
		}
		defer t.Close()
		s.resize = t.resize
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if keys != nil {
		go func() {
			select {
			case <-keys.detached:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	code, err = s.run(ctx, url)
	if keys != nil {
		select {
		case <-keys.detached:
			return 0, true, nil
		default:
		}
	}
	return code, false, err
}
