package sandbox

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// StopContainer sends the container's stop signal, waits up to timeout seconds, then
// kills it. Stopping a container that is not running, or that is gone, is a no-op (CRI:
// StopContainer is idempotent and must not fail for an unknown id).
func (m *Manager) StopContainer(ctx context.Context, id string, timeout int64) error {
	return m.ctrs.withOp(id, true, func(e *ctrEntry) error {
		err := m.stopContainer(ctx, e, timeout)
		if err == nil {
			m.nriStopped(ctx, e)
		}
		return err
	})
}

func (m *Manager) stopContainer(ctx context.Context, e *ctrEntry, timeout int64) error {
	c := e.snap.Load()
	if c.State == ContainerExited {
		return nil
	}
	pe, err := m.pods.lookup(c.PodID)
	if err != nil {
		return err
	}
	mon, err := m.monitor(pe)
	if err != nil {
		// Nothing can be signalled: the monitor and with it the processes are gone.
		return m.markExited(e, &ProcState{ExitCode: 255, FinishedAt: time.Now()})
	}
	if timeout > 0 && c.State == ContainerRunning {
		sig := syscall.Signal(c.StopSignal)
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		if err := mon.Kill(ctx, c.ID, sig, false); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal %v: %w", sig, err)
		}
		if exited, err := m.waitExit(ctx, e, mon, time.Duration(timeout)*time.Second); exited || err != nil {
			return err
		}
	}
	if err := mon.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("kill: %w", err)
	}
	exited, err := m.waitExit(ctx, e, mon, m.cfg.StopGrace)
	switch {
	case exited || err != nil:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return fmt.Errorf("container %s did not exit after SIGKILL within %v: %w", c.ID, m.cfg.StopGrace, errdefs.ErrUnavailable)
	}
}

// waitExit waits for the container's exit event. It also asks the monitor now and then,
// so a lost event (a monitor reconnect) cannot leave a stop waiting forever. err is a
// failure to record an exit the monitor reported.
func (m *Manager) waitExit(ctx context.Context, e *ctrEntry, mon Monitor, d time.Duration) (exited bool, err error) {
	e.mu.Lock()
	exitedCh := e.exited
	e.mu.Unlock()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-exitedCh:
			return true, nil
		case <-deadline.C:
			return false, nil
		case <-ctx.Done():
			return false, nil
		case <-poll.C:
			id := e.snap.Load().ID
			st, err := mon.State(ctx, id)
			if errdefs.IsNotFound(err) {
				return true, m.markExited(e, &ProcState{ID: id, ExitCode: 255, FinishedAt: time.Now()})
			}
			if err == nil && st.Status == ProcStopped {
				return true, m.markExited(e, st)
			}
		}
	}
}
