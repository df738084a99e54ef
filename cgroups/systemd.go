package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	systemd "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The systemd side of the systemd cgroup driver: with systemd as PID 1
// (Tree.Systemd), a cgroup whose path ends in a scope is a transient unit
// that systemd creates over D-Bus, as runc's systemd driver does. crid never
// makes or removes such a directory itself: it asks systemd, and writes only
// inside units created with Delegate=yes.

// unitTimeout bounds one systemd job (start or stop of a transient unit).
const unitTimeout = 30 * time.Second

// PodSlicePrefix names the slice crid makes for a pod that has no
// cgroup_parent of its own under the systemd driver (crid-pod<id>.slice,
// below crid.slice). crid stops such a slice when its last unit is gone.
const PodSlicePrefix = "crid-pod"

// SystemdRunning reports whether systemd is the init system (sd_booted(3)).
func SystemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// unitOf tells whether the cgroup at path is a systemd unit crid manages
// through systemd: a scope, under a slice, on a host run by systemd.
func (t Tree) unitOf(path string) (scope, slice string, ok bool) {
	if !t.Systemd {
		return "", "", false
	}
	scope, slice = filepath.Base(path), filepath.Base(filepath.Dir(path))
	return scope, slice, strings.HasSuffix(scope, ".scope") && strings.HasSuffix(slice, ".slice")
}

// connectSystemd opens a connection to systemd's manager: its private socket
// (root; no bus daemon needed), else the system bus. One per operation: the
// monitor makes a few units in its life and should hold no connection idle.
func connectSystemd(ctx context.Context) (*systemd.Conn, error) {
	c, err := systemd.NewSystemdConnectionContext(ctx)
	if err != nil {
		var err2 error
		if c, err2 = systemd.NewWithContext(ctx); err2 != nil {
			return nil, fmt.Errorf("connect to systemd: %w", errors.Join(err, err2))
		}
	}
	return c, nil
}

// StartScope starts the transient scope unit `scope` in `slice` holding pid.
// delegate (Delegate=yes) hands the unit's cgroup subtree to crid, which
// writes the limits systemd has no property for inside it.
func StartScope(ctx context.Context, scope, slice string, pid int, delegate bool, props ...systemd.Property) error {
	conn, err := connectSystemd(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	all := append([]systemd.Property{
		systemd.PropDescription("crid " + strings.TrimSuffix(scope, ".scope")),
		systemd.PropSlice(slice),
		systemd.PropPids(uint32(pid)),
		// Units of their own, stopped by crid: not pulled into shutdown ordering.
		newProp("DefaultDependencies", false),
		newProp("Delegate", delegate),
		newProp("MemoryAccounting", true),
		newProp("CPUAccounting", true),
		newProp("TasksAccounting", true),
		newProp("IOAccounting", true),
	}, props...)
	err = runJob(ctx, "start "+scope, func(ch chan<- string) (int, error) {
		return conn.StartTransientUnitContext(ctx, scope, "replace", all, ch)
	})
	if je := (*jobError)(nil); errors.As(err, &je) && je.result == "failed" {
		// systemd says why only in its journal ("Failed to add PIDs to
		// scope's control group: <errno>"); whether pid still ran tells a
		// process gone (ESRCH) from a move the kernel refused.
		err = fmt.Errorf("%w (pid %d %s)", err, pid, procState(pid))
	}
	return err
}

// procState is pid's state letter from /proc/<pid>/stat ("state Z"), or
// "gone".
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	// The command name, in parentheses, may hold anything: the state follows the last ')'.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return "state " + string(b[i+2])
	}
	return "state unknown"
}

// StopUnit stops a unit and waits until systemd has removed its cgroup; a
// unit systemd does not know (already gone) is fine.
func StopUnit(ctx context.Context, unit string) error {
	conn, err := connectSystemd(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = runJob(ctx, "stop "+unit, func(ch chan<- string) (int, error) {
		return conn.StopUnitContext(ctx, unit, "replace", ch)
	})
	var de godbus.Error
	if errors.As(err, &de) && (de.Name == "org.freedesktop.systemd1.NoSuchUnit" || de.Name == "org.freedesktop.systemd1.LoadFailed") {
		return nil
	}
	return err
}

// setUnitProperties changes a live unit's properties (runtime only: the
// unit is transient anyway).
func setUnitProperties(unit string, props []systemd.Property) error {
	ctx, cancel := context.WithTimeout(context.Background(), unitTimeout)
	defer cancel()
	conn, err := connectSystemd(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetUnitPropertiesContext(ctx, unit, true, props...); err != nil {
		return fmt.Errorf("systemd set properties of %s: %w", unit, err)
	}
	return nil
}

// jobError is a systemd job that ended with a result other than "done".
type jobError struct{ what, result string }

func (e *jobError) Error() string { return fmt.Sprintf("systemd %s: job %s", e.what, e.result) }

// runJob submits a systemd job and waits for its result.
func runJob(ctx context.Context, what string, submit func(chan<- string) (int, error)) error {
	ctx, cancel := context.WithTimeout(ctx, unitTimeout)
	defer cancel()
	ch := make(chan string, 1)
	if _, err := submit(ch); err != nil {
		return fmt.Errorf("systemd %s: %w", what, err)
	}
	select {
	case res := <-ch:
		if res != "done" {
			return &jobError{what, res}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("systemd %s: %w", what, ctx.Err())
	}
}

func newProp(name string, v any) systemd.Property {
	return systemd.Property{Name: name, Value: godbus.MakeVariant(v)}
}

// unitResources are r as systemd unit properties, so that systemd's view of
// the unit (and what it writes back on a daemon-reload) matches the limits.
// Limits systemd has no property for (cpuset, hugetlb, unified keys, devices)
// are written to the delegated cgroup only.
func unitResources(r *specs.LinuxResources, unified bool) []systemd.Property {
	if r == nil {
		return nil
	}
	var props []systemd.Property
	if m := r.Memory; m != nil && m.Limit != nil && *m.Limit > 0 {
		name := "MemoryLimit"
		if unified {
			name = "MemoryMax"
		}
		props = append(props, newProp(name, uint64(*m.Limit)))
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares > 0 {
			if unified {
				// The library's conversion, so systemd gets what the cgroup file says.
				if w := cgroup2.ToResources(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: c.Shares}}).CPU.Weight; w != nil {
					props = append(props, newProp("CPUWeight", *w))
				}
			} else {
				props = append(props, newProp("CPUShares", *c.Shares))
			}
		}
		if c.Quota != nil && *c.Quota > 0 {
			period := uint64(100000)
			if c.Period != nil && *c.Period > 0 {
				period = *c.Period
			}
			// systemd rounds the quota per second to 10 ms: round up as runc
			// does, so the limit is never tighter than asked.
			perSec := uint64(*c.Quota) * 1000000 / period
			if perSec%10000 != 0 {
				perSec = (perSec/10000 + 1) * 10000
			}
			props = append(props, newProp("CPUQuotaPerSecUSec", perSec), newProp("CPUQuotaPeriodUSec", period))
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		props = append(props, newProp("TasksMax", uint64(*p.Limit)))
	}
	return props
}

// startUnit creates the pending cgroup c as a systemd scope holding pid,
// then writes the limits into the delegated cgroup and loads it.
func (c *Cgroup) startUnit(pid int) error {
	scope, slice, _ := c.tree.unitOf(c.path)
	ctx := context.Background()
	if err := StartScope(ctx, scope, slice, pid, true, unitResources(c.resources, c.tree.Unified)...); err != nil {
		return err
	}
	loaded, err := c.tree.Load(c.path)
	if err == nil {
		err = loaded.Update(c.resources)
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", c.path, err)
	}
	c.v1, c.v2, c.pending, c.resources = loaded.v1, loaded.v2, false, nil
	return nil
}

// stopUnits stops the scope at path and, if it was the last unit of a pod
// slice crid made, that slice.
func (t Tree) stopUnits(path string) error {
	scope, slice, ok := t.unitOf(path)
	if !ok {
		return nil
	}
	ctx := context.Background()
	if err := StopUnit(ctx, scope); err != nil {
		return err
	}
	if !strings.HasPrefix(slice, PodSlicePrefix) {
		return nil
	}
	for _, d := range t.Dirs(filepath.Dir(path)) {
		if hasSubdirs(d) {
			return nil
		}
	}
	return StopUnit(ctx, slice)
}

func hasSubdirs(d string) bool {
	ents, err := os.ReadDir(d)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}
