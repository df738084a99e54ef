package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Cgroup is a container's cgroup in either hierarchy version.
type Cgroup struct {
	tree Tree
	path string
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
	// pending: a systemd unit not started yet (it needs its first pid);
	// resources are its limits until then.
	pending   bool
	resources *specs.LinuxResources
}

// Path is the cgroup's path relative to each hierarchy root.
func (c *Cgroup) Path() string { return c.path }

// New creates the cgroup at path (from ParsePath) with resources r (nil: no
// limits), or takes it over with those limits if it exists. A systemd unit
// (see Tree.Systemd) is only created by the first Add, which gives systemd
// the pid a scope needs.
func (t Tree) New(path string, r *specs.LinuxResources) (*Cgroup, error) {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	if err := t.valid(); err != nil {
		return nil, err
	}
	c := &Cgroup{tree: t, path: path}
	if _, _, ok := t.unitOf(path); ok {
		c.pending, c.resources = true, r
		return c, nil
	}
	var err error
	if t.Unified {
		err = t.enableControllers(path)
		if err == nil {
			c.v2, err = cgroup2.NewManager(t.Root, path, v2Resources(r))
		}
		if err == nil {
			err = t.writeUnified(path, r.Unified)
		}
	} else {
		c.v1, err = cgroup1.New(cgroup1.StaticPath(path), v1Resources(r))
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	return c, nil
}

// Load opens the existing cgroup at path.
func (t Tree) Load(path string) (*Cgroup, error) {
	if err := t.valid(); err != nil {
		return nil, err
	}
	c := &Cgroup{tree: t, path: path}
	var err error
	if t.Unified {
		c.v2, err = cgroup2.Load(path, cgroup2.WithMountpoint(t.Root))
	} else {
		c.v1, err = cgroup1.Load(cgroup1.StaticPath(path))
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	return c, nil
}

// v1Resources strips what v1 cannot take (unified keys). The devices list
// stays: the device cgroup (devices.allow/deny on v1, an eBPF program on v2)
// is what stops a container with CAP_MKNOD from making and opening the
// host's disks.
func v1Resources(r *specs.LinuxResources) *specs.LinuxResources {
	c := *r
	c.Unified = nil
	return &c
}

// v2Resources converts r for the v2 manager, device rules included: the
// library's conversion leaves them out, and without them a container with
// CAP_MKNOD could make and open the host's disks (the eBPF device filter is
// the v2 device cgroup).
func v2Resources(r *specs.LinuxResources) *cgroup2.Resources {
	res := cgroup2.ToResources(r)
	res.Devices = v2DeviceRules(r.Devices)
	return res
}

// v2DeviceRules spells out what the OCI spec leaves implicit, as the eBPF
// filter compiler needs it: no type is "a" (all), no major or minor is -1
// (any). It refuses a rule without a type and dereferences the numbers, so
// the usual deny-all rule ({Allow: false, Access: "rwm"}) failed every pod.
func v2DeviceRules(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	if rules == nil {
		return nil
	}
	out := make([]specs.LinuxDeviceCgroup, len(rules))
	for i, d := range rules {
		if d.Type == "" {
			d.Type = "a"
		}
		if d.Major == nil {
			d.Major = ptr(int64(-1))
		}
		if d.Minor == nil {
			d.Minor = ptr(int64(-1))
		}
		out[i] = d
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// Add places pid in every hierarchy of the cgroup; for a pending systemd
// unit, it starts the unit with pid in it.
func (c *Cgroup) Add(pid int) error {
	if c.pending {
		return c.startUnit(pid)
	}
	if c.v2 != nil {
		return c.v2.AddProc(uint64(pid))
	}
	return c.v1.AddProc(uint64(pid))
}

// OpenDir opens the v2 cgroup directory for clone3 CLONE_INTO_CGROUP; nil on
// v1, where there is no single directory to clone into, and for a systemd
// unit not started yet (Add places the process).
func (c *Cgroup) OpenDir() (*os.File, error) {
	if c.v2 == nil {
		return nil, nil
	}
	return os.OpenFile(filepath.Join(c.tree.Root, c.path), os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
}

// Update changes the cgroup's resources live; nil changes nothing.
func (c *Cgroup) Update(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	var err error
	if scope, _, ok := c.tree.unitOf(c.path); ok {
		// Tell systemd first: it rewrites a unit's cgroup from its own
		// properties (daemon-reload), and must not undo the update.
		if props := unitResources(r, c.tree.Unified); len(props) > 0 {
			if err := setUnitProperties(scope, props); err != nil {
				return fmt.Errorf("update cgroup %s: %w", c.path, err)
			}
		}
	}
	if c.v2 != nil {
		err = c.v2.Update(v2Resources(r))
		if err == nil {
			err = c.tree.writeUnified(c.path, r.Unified)
		}
	} else {
		err = c.v1.Update(v1Resources(r))
	}
	if err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, err)
	}
	return nil
}

// writeUnified writes linux.resources.unified keys ("memory.high": "...") as
// files of the v2 cgroup; the library's conversion does not carry them.
func (t Tree) writeUnified(path string, kv map[string]string) error {
	for k, v := range kv {
		if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." || strings.HasPrefix(k, "cgroup.") {
			return fmt.Errorf("unified key %q not allowed", k)
		}
		f, err := os.OpenFile(filepath.Join(t.Root, path, k), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("unified %s: %w", k, err)
		}
		_, err = f.WriteString(v)
		f.Close()
		if err != nil {
			return fmt.Errorf("unified %s=%s: %w", k, v, err)
		}
	}
	return nil
}
