package sandbox

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// StartContainer lets a CREATED container's process run (execve).
func (m *Manager) StartContainer(ctx context.Context, id string) error {
	e, err := m.lookupContainer(id)
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	c := e.snap.Load()
	if c.State != ContainerCreated {
		return fmt.Errorf("container %s is %s, not CREATED: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	pe, err := m.lookupPod(c.PodID)
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
	startedAt := time.Now()
	if err := mon.Start(ctx, c.ID); err != nil {
		// As containerd does: the container is done for, with the reason shown in status.
		m.updateContainer(e, ptr(EventStopped), func(c *Container) bool {
			if c.State == ContainerExited {
				return false
			}
			c.State, c.ExitCode, c.Reason, c.Message = ContainerExited, 128, "StartError", err.Error()
			c.FinishedAt = time.Now()
			return true
		})
		return fmt.Errorf("start container %s: %w", c.ID, err)
	}
	_, _, err = m.updateContainer(e, ptr(EventStarted), func(c *Container) bool {
		if c.State != ContainerCreated {
			return false // it exited already: the exit event won the race
		}
		c.State, c.StartedAt = ContainerRunning, startedAt
		return true
	})
	return err
}

// StopContainer sends the container's stop signal, waits up to timeout seconds, then
// kills it. Stopping a container that is not running, or that is gone, is a no-op (CRI:
// StopContainer is idempotent and must not fail for an unknown id).
func (m *Manager) StopContainer(ctx context.Context, id string, timeout int64) error {
	e, err := m.lookupContainer(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	return m.stopContainer(ctx, e, timeout)
}

func (m *Manager) stopContainer(ctx context.Context, e *ctrEntry, timeout int64) error {
	c := e.snap.Load()
	if c.State == ContainerExited {
		return nil
	}
	pe, err := m.lookupPod(c.PodID)
	if err != nil {
		return err
	}
	mon, err := m.monitor(pe)
	if err != nil {
		// Nothing can be signalled: the monitor and with it the processes are gone.
		m.markExited(e, &ProcState{ExitCode: 255, FinishedAt: time.Now()})
		return nil
	}
	if timeout > 0 && c.State == ContainerRunning {
		sig := syscall.Signal(c.StopSignal)
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		if err := mon.Kill(ctx, c.ID, sig, false); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal %v: %w", sig, err)
		}
		if m.waitExit(ctx, e, mon, time.Duration(timeout)*time.Second) {
			return nil
		}
	}
	if err := mon.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("kill: %w", err)
	}
	if !m.waitExit(ctx, e, mon, m.cfg.StopGrace) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("container %s did not exit after SIGKILL within %v: %w", c.ID, m.cfg.StopGrace, errdefs.ErrUnavailable)
	}
	return nil
}

// waitExit waits for the container's exit event. It also asks the monitor now and then,
// so a lost event (a monitor reconnect) cannot leave a stop waiting forever.
func (m *Manager) waitExit(ctx context.Context, e *ctrEntry, mon Monitor, d time.Duration) bool {
	e.mu.Lock()
	exited := e.exited
	e.mu.Unlock()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-exited:
			return true
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		case <-poll.C:
			id := e.snap.Load().ID
			st, err := mon.State(ctx, id)
			if errdefs.IsNotFound(err) {
				m.markExited(e, &ProcState{ID: id, ExitCode: 255, FinishedAt: time.Now()})
				return true
			}
			if err == nil && st.Status == ProcStopped {
				m.markExited(e, st)
				return true
			}
		}
	}
}

// RemoveContainer kills the container if needed and removes its process record, rootfs,
// dir and record. Idempotent; unknown ids succeed.
func (m *Manager) RemoveContainer(ctx context.Context, id string) error {
	e, err := m.lookupContainer(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	c := e.snap.Load()
	m.mu.RLock()
	_, present := m.ctrs[c.ID]
	m.mu.RUnlock()
	if !present {
		return nil // removed while we waited for the lock
	}
	if err := m.stopContainer(ctx, e, 0); err != nil {
		return err
	}
	m.updateContainer(e, nil, func(c *Container) bool {
		if c.Phase == PhaseRemoving {
			return false
		}
		c.Phase = PhaseRemoving
		return true
	})
	var mon Monitor
	if pe, err := m.lookupPod(c.PodID); err == nil {
		mon, _ = m.monitor(pe)
	}
	c = e.snap.Load()
	if err := m.rollbackContainer(ctx, c, mon); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.ctrs, c.ID)
	if m.ctrByName[c.key()] == c.ID {
		delete(m.ctrByName, c.key())
	}
	m.mu.Unlock()
	m.ctrNames.forget(c.key())
	m.stats.forget(c.ID)
	m.publishContainer(EventDeleted, c)
	return nil
}
