package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// deleteFromRuntime undoes, for a container an external OCI runtime ran (its monitor
// dir dir holds the runtime's record), what its dead monitor would have undone: the
// runtime's state and cgroup (`delete --force`; only the state for a dir of another
// boot) and the rootfs mounted on the host.
// A container of the built-in executor has no record: nothing to do.
func deleteFromRuntime(dir, id string, spec *specs.Spec, boot stateBoot) error {
	if b, err := os.ReadFile(api.ExternalRuntimePath(dir)); err == nil && lostWithPower(b) {
		return nil // the runtime's state (under /run) and the rootfs mount went with the machine
	}
	rt, err := api.ReadExternalRuntime(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil && boot.before(api.ExternalRuntimePath(dir)) {
		return nil // cut short by the power loss: as above
	}
	if err != nil {
		return err
	}
	var errs []error
	if boot == otherBoot {
		// The runtime's state names the last boot's init by pid and start time, which a
		// process of this boot may have: `delete --force` would SIGKILL it. Nothing the
		// state names runs any more; only the state itself is left (a root off tmpfs).
		if filepath.IsAbs(rt.Root) && api.ValidID(id) {
			if err := os.RemoveAll(filepath.Join(rt.Root, id)); err != nil {
				errs = append(errs, err)
			}
		}
	} else if _, err := os.Stat(filepath.Join(rt.Root, id)); err == nil {
		args := append(append([]string{}, rt.Args...), "--root", rt.Root)
		if rt.SystemdCgroup {
			args = append(args, "--systemd-cgroup")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, rt.Path, append(args, "delete", "--force", id)...).CombinedOutput() //nolint:gosec // G204: the runtime the operator configured, recorded by the monitor in a root-only dir
		if err != nil {
			errs = append(errs, fmt.Errorf("%s delete --force %s: %v: %s", rt.Path, id, err, strings.TrimSpace(string(out))))
		}
	}
	if spec.Root != nil && spec.Root.Path != "" {
		if err := unix.Unmount(spec.Root.Path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", spec.Root.Path, err))
		}
	}
	return errors.Join(errs...)
}
