package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// StartContainer lets a CREATED container's process run (execve).
func (m *Manager) StartContainer(ctx context.Context, id string) error {
	return m.ctrs.withOp(id, false, func(e *ctrEntry) error { return m.startContainer(ctx, e) })
}

func (m *Manager) startContainer(ctx context.Context, e *ctrEntry) error {
	c := e.snap.Load()
	if c.State != ContainerCreated {
		return fmt.Errorf("container %s is %s, not CREATED: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	pe, err := m.pods.lookup(c.PodID)
	if err != nil {
		return err
	}
	if pe.snap.Load().State != PodReady {
		return fmt.Errorf("pod sandbox %s is not ready: %w", c.PodID, errdefs.ErrFailedPrecondition)
	}
	mon, err := m.monitor(pe)
	if err != nil {
		return err
	}
	// Taken before the start: an exit event may be handled before the update below, and
	// a start time after the finish time would be a lie in ContainerStatus.
	m.nriContainerEvent(ctx, "StartContainer", c, NRI.StartContainer)
	startedAt := time.Now()
	if err := mon.Start(ctx, c.ID); err != nil {
		err = fmt.Errorf("start container %s: %w", c.ID, err)
		// As containerd does: the container is done for, with the reason shown in status.
		_, _, uerr := m.updateContainer(e, ptr(EventStopped), func(c *Container) bool {
			if c.State == ContainerExited {
				return false
			}
			c.State, c.ExitCode, c.Reason, c.Message = ContainerExited, 128, "StartError", err.Error()
			c.FinishedAt = time.Now()
			return true
		})
		return errors.Join(err, uerr)
	}
	_, _, err = m.updateContainer(e, ptr(EventStarted), func(c *Container) bool {
		if c.State != ContainerCreated {
			return false // it exited already: the exit event won the race
		}
		c.State, c.StartedAt = ContainerRunning, startedAt
		return true
	})
	if err == nil {
		m.openCgroup(e.snap.Load())
		m.nriContainerEvent(ctx, "PostStartContainer", e.snap.Load(), NRI.ContainerStarted)
	}
	return err
}
