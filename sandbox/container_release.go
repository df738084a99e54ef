package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// releaseContainer releases whatever of a container exists and deletes its record. Each
// step is idempotent, so it serves a failed CreateContainer, recover() and
// RemoveContainer alike. On error the record stays for a later try.
func (m *Manager) releaseContainer(ctx context.Context, c *Container, mon Monitor) error {
	var errs []error
	if mon != nil {
		killAndWait(ctx, mon, c.ID)
		if err := mon.Delete(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete process: %w", err))
		}
	}
	for i := range c.ExtraRootfs {
		if err := m.deps.Mounter.Unmount(imageMountPath(c, i)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		for _, rid := range append([]string{c.ID}, c.ExtraRootfs...) {
			if err := m.deps.Images.RemoveRootfs(ctx, rid); err != nil {
				errs = append(errs, fmt.Errorf("remove rootfs: %w", err))
			}
		}
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		m.log.Error("container cleanup incomplete", "container", c.ID, "error", err)
		return err
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return err
	}
	return m.store.deleteContainer(c.ID)
}

// killAndWait kills a process the monitor may still hold (a half-made container is
// created, not stopped, and the monitor deletes only stopped ones) and waits briefly for
// the monitor to see it exit.
func killAndWait(ctx context.Context, mon Monitor, id string) {
	st, err := mon.State(ctx, id)
	if err != nil || st.Status == ProcStopped {
		return
	}
	if err := mon.Kill(ctx, id, syscall.SIGKILL, true); err != nil {
		return
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err := mon.State(ctx, id); err != nil || st.Status == ProcStopped {
			return
		}
	}
}
