package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// stopTimeout is docker's default grace period before SIGKILL.
const stopTimeout = 10

func newStopCommand(g *globals) *cobra.Command {
	var timeout int64
	var all bool
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER...",
		Short: "Stop one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(g, cmd, args, all, func(ctx context.Context, c *client, e *entry) error {
				return c.stop(ctx, e, timeout)
			})
		},
	}
	cmd.Flags().Int64VarP(&timeout, "time", "t", stopTimeout, "seconds to wait before killing the container")
	addAllNamespaces(cmd, &all)
	return cmd
}

func newStartCommand(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "start CONTAINER...",
		Short: "Start one or more stopped containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(g, cmd, args, all, func(ctx context.Context, c *client, e *entry) error {
				return c.start(ctx, e)
			})
		},
	}
	addAllNamespaces(cmd, &all)
	return cmd
}

func newRestartCommand(g *globals) *cobra.Command {
	var timeout int64
	var all bool
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER...",
		Short: "Restart one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(g, cmd, args, all, func(ctx context.Context, c *client, e *entry) error {
				if err := c.stop(ctx, e, timeout); err != nil {
					return err
				}
				return c.start(ctx, e)
			})
		},
	}
	cmd.Flags().Int64VarP(&timeout, "time", "t", stopTimeout, "seconds to wait before killing the container")
	addAllNamespaces(cmd, &all)
	return cmd
}

func newRmCommand(g *globals) *cobra.Command {
	var force, all bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER...",
		Short: "Remove one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(g, cmd, args, all, func(ctx context.Context, c *client, e *entry) error {
				if !force && e.ctr != nil && e.ctr.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING {
					return fmt.Errorf("cannot remove container %s: container is running: stop the container before removing or force remove", e.Name())
				}
				return c.remove(ctx, e)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the removal of a running container")
	addAllNamespaces(cmd, &all)
	return cmd
}

func addAllNamespaces(cmd *cobra.Command, all *bool) {
	cmd.Flags().BoolVarP(all, "all-namespaces", "A", false, "also act on containers not made by crid run (kubelet's)")
}

// eachContainer runs fn on every named container, printing each name as docker does;
// a failure is reported and the others still go, and the command then fails.
func eachContainer(g *globals, cmd *cobra.Command, refs []string, all bool, fn func(context.Context, *client, *entry) error) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := cmd.Context()
	var failed error
	for _, ref := range refs {
		e, err := c.lookup(ctx, ref, all, true)
		if err == nil {
			err = fn(ctx, c, e)
		}
		if err != nil {
			if len(refs) == 1 || errors.Is(err, errUnreachable) {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "Error response from runtime:", err)
			failed = errors.New("not all containers were processed")
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), ref)
	}
	return failed
}

func (c *client) stop(ctx context.Context, e *entry, timeout int64) error {
	if e.ctr == nil || e.ctr.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil
	}
	if _, err := c.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: e.containerID(), Timeout: timeout}); err != nil {
		return rpcError("stop", err)
	}
	return c.refreshContainer(ctx, e)
}

// start starts a created container, or makes and starts the next attempt of an exited
// one in the same pod: a CRI container runs once.
func (c *client) start(ctx context.Context, e *entry) error {
	switch e.ctr.GetState() {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return nil
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		if _, err := c.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: e.containerID()}); err != nil {
			return rpcError("start", err)
		}
		return c.refreshContainer(ctx, e)
	}
	if !e.managed() {
		return errors.New("a CRI container runs once: its owner (kubelet) restarts it")
	}
	cfg, err := e.rec.containerConfig()
	if err != nil {
		return err
	}
	podStatus, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: e.pod.GetId()})
	if err != nil {
		return rpcError("pod status", err)
	}
	if podStatus.GetStatus().GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
		return errors.New("its pod is stopped: remove it and run it again")
	}
	attempt := uint32(0)
	if e.ctr != nil {
		attempt = e.ctr.GetMetadata().GetAttempt() + 1
	}
	cfg.Metadata.Attempt = attempt
	cfg.LogPath = fmt.Sprintf("%s/%d.log", cfg.GetMetadata().GetName(), attempt)
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     podStatus.GetStatus().GetMetadata(),
		Labels:       e.pod.GetLabels(),
		Annotations:  e.pod.GetAnnotations(),
		LogDirectory: e.rec.LogDir,
	}
	ctr, err := c.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: e.pod.GetId(), Config: cfg, SandboxConfig: podCfg})
	if err != nil {
		return rpcError("start", err)
	}
	if _, err := c.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr.GetContainerId()}); err != nil {
		_, _ = c.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ctr.GetContainerId()})
		return rpcError("start", err)
	}
	if e.ctr != nil { // the previous attempt is done with; its log file stays in the pod's log dir
		_, _ = c.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: e.containerID()})
	}
	return c.refreshContainer(ctx, e)
}

// remove takes a managed container's pod and host-side dirs away, or, for anyone else's
// (with --all-namespaces), just the container.
func (c *client) remove(ctx context.Context, e *entry) error {
	if !e.managed() {
		if _, err := c.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: e.containerID()}); err != nil && !isNotFound(err) {
			return rpcError("stop", err)
		}
		if _, err := c.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: e.containerID()}); err != nil && !isNotFound(err) {
			return rpcError("remove", err)
		}
		return nil
	}
	return rollback{podID: e.pod.GetId(), tmpfs: e.rec.TmpfsDirs, logDir: e.rec.LogDir}.undo(c)
}

// foreground follows a started container like `docker run` without -d: attached to its
// terminal or stdin with -i/-t, else printing its log as it grows, until it exits.
func (c *client) foreground(ctx context.Context, e *entry, o *runOptions) (int, error) {
	if o.interactive || o.tty {
		detached, err := c.attach(ctx, e.containerID(), o.interactive, o.tty)
		if err != nil || detached {
			return 0, err
		}
	} else {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			// Ctrl-C stops the container as docker's signal proxy would end it.
			if _, ok := <-sigs; ok {
				_, _ = c.rt.StopContainer(context.WithoutCancel(ctx), &runtimeapi.StopContainerRequest{ContainerId: e.containerID(), Timeout: stopTimeout})
			}
		}()
		err := c.logs(ctx, e.containerID(), nil, logOptions{follow: true, tail: -1}, os.Stdout, os.Stderr)
		if err != nil {
			return 0, err
		}
	}
	return c.waitExit(ctx, e.containerID())
}

// waitExit waits for the container to be reported exited and returns its exit code.
func (c *client) waitExit(ctx context.Context, id string) (int, error) {
	for {
		st, err := c.containerStatus(ctx, id)
		if err != nil {
			return 0, err
		}
		if st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			return int(st.GetExitCode()), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
