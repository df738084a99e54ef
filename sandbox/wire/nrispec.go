package wire

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specEditor is the spec generator NRI's adjustment code drives
// (nrigen.UnderlyingGenerator, modelled on runtime-tools' generate.Generator): each method
// edits the spec in place. Kept here rather than taking runtime-tools for ~30 setters.
type specEditor struct{ s *specs.Spec }

func (e specEditor) Spec() *specs.Spec { return e.s }

func (e specEditor) process() *specs.Process {
	if e.s.Process == nil {
		e.s.Process = &specs.Process{}
	}
	return e.s.Process
}

func (e specEditor) linux() *specs.Linux {
	if e.s.Linux == nil {
		e.s.Linux = &specs.Linux{}
	}
	return e.s.Linux
}

func (e specEditor) resources() *specs.LinuxResources {
	if e.linux().Resources == nil {
		e.s.Linux.Resources = &specs.LinuxResources{}
	}
	return e.s.Linux.Resources
}

func (e specEditor) cpu() *specs.LinuxCPU {
	if e.resources().CPU == nil {
		e.s.Linux.Resources.CPU = &specs.LinuxCPU{}
	}
	return e.s.Linux.Resources.CPU
}

func (e specEditor) memory() *specs.LinuxMemory {
	if e.resources().Memory == nil {
		e.s.Linux.Resources.Memory = &specs.LinuxMemory{}
	}
	return e.s.Linux.Resources.Memory
}

func (e specEditor) hooks() *specs.Hooks {
	if e.s.Hooks == nil {
		e.s.Hooks = &specs.Hooks{}
	}
	return e.s.Hooks
}

func (e specEditor) AddAnnotation(key, value string) {
	if e.s.Annotations == nil {
		e.s.Annotations = map[string]string{}
	}
	e.s.Annotations[key] = value
}

func (e specEditor) RemoveAnnotation(key string) { delete(e.s.Annotations, key) }

func (e specEditor) AddDevice(d specs.LinuxDevice) {
	e.RemoveDevice(d.Path)
	e.linux().Devices = append(e.s.Linux.Devices, d)
}

func (e specEditor) RemoveDevice(path string) {
	if e.s.Linux == nil {
		return
	}
	out := e.s.Linux.Devices[:0]
	for _, d := range e.s.Linux.Devices {
		if d.Path != path {
			out = append(out, d)
		}
	}
	e.s.Linux.Devices = out
}

// namespaceType maps runtime-tools' names ("net", "mnt" too) to the spec's.
func namespaceType(ns string) (specs.LinuxNamespaceType, error) {
	switch ns {
	case "network", "net":
		return specs.NetworkNamespace, nil
	case "mount", "mnt":
		return specs.MountNamespace, nil
	case "pid", "ipc", "uts", "user", "cgroup", "time":
		return specs.LinuxNamespaceType(ns), nil
	}
	return "", fmt.Errorf("unknown namespace type %q", ns)
}

func (e specEditor) AddOrReplaceLinuxNamespace(ns, path string) error {
	t, err := namespaceType(ns)
	if err != nil {
		return err
	}
	l := e.linux()
	for i := range l.Namespaces {
		if l.Namespaces[i].Type == t {
			l.Namespaces[i].Path = path
			return nil
		}
	}
	l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: t, Path: path})
	return nil
}

func (e specEditor) RemoveLinuxNamespace(ns string) error {
	t, err := namespaceType(ns)
	if err != nil {
		return err
	}
	if e.s.Linux == nil {
		return nil
	}
	out := e.s.Linux.Namespaces[:0]
	for _, n := range e.s.Linux.Namespaces {
		if n.Type != t {
			out = append(out, n)
		}
	}
	e.s.Linux.Namespaces = out
	return nil
}

func (e specEditor) AddPreStartHook(h specs.Hook) {
	e.hooks().Prestart = append(e.s.Hooks.Prestart, h) //nolint:staticcheck // deprecated by the spec, still run
}

func (e specEditor) AddPostStartHook(h specs.Hook) {
	e.hooks().Poststart = append(e.s.Hooks.Poststart, h)
}

func (e specEditor) AddPostStopHook(h specs.Hook) { e.hooks().Poststop = append(e.s.Hooks.Poststop, h) }

func (e specEditor) AddProcessEnv(name, value string) {
	p := e.process()
	for i, kv := range p.Env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			p.Env[i] = name + "=" + value
			return
		}
	}
	p.Env = append(p.Env, name+"="+value)
}

func (e specEditor) ClearProcessEnv() { e.process().Env = nil }

func (e specEditor) SetProcessArgs(args []string) { e.process().Args = args }

func (e specEditor) SetProcessOOMScoreAdj(adj int) { e.process().OOMScoreAdj = &adj }

func (e specEditor) AddLinuxResourcesDevice(allow bool, devType string, major, minor *int64, access string) {
	r := e.resources()
	r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: allow, Type: devType, Major: major, Minor: minor, Access: access})
}

func (e specEditor) AddLinuxResourcesHugepageLimit(pageSize string, limit uint64) {
	r := e.resources()
	for i := range r.HugepageLimits {
		if r.HugepageLimits[i].Pagesize == pageSize {
			r.HugepageLimits[i].Limit = limit
			return
		}
	}
	r.HugepageLimits = append(r.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: pageSize, Limit: limit})
}

func (e specEditor) AddLinuxResourcesUnified(key, val string) {
	r := e.resources()
	if r.Unified == nil {
		r.Unified = map[string]string{}
	}
	r.Unified[key] = val
}

func (e specEditor) AddMount(m specs.Mount) { e.s.Mounts = append(e.s.Mounts, m) }

func (e specEditor) ClearMounts() { e.s.Mounts = nil }

func (e specEditor) Mounts() []specs.Mount { return e.s.Mounts }

func (e specEditor) RemoveMount(dest string) {
	out := e.s.Mounts[:0]
	for _, m := range e.s.Mounts {
		if m.Destination != dest {
			out = append(out, m)
		}
	}
	e.s.Mounts = out
}

func (e specEditor) AddLinuxSysctl(key, value string) {
	l := e.linux()
	if l.Sysctl == nil {
		l.Sysctl = map[string]string{}
	}
	l.Sysctl[key] = value
}

func (e specEditor) RemoveLinuxSysctl(key string) {
	if e.s.Linux != nil {
		delete(e.s.Linux.Sysctl, key)
	}
}

func (e specEditor) SetLinuxCgroupsPath(path string) { e.linux().CgroupsPath = path }

func (e specEditor) SetLinuxResourcesCPUCpus(cpus string) { e.cpu().Cpus = cpus }

func (e specEditor) SetLinuxResourcesCPUMems(mems string) { e.cpu().Mems = mems }

func (e specEditor) SetLinuxResourcesCPUPeriod(period uint64) { e.cpu().Period = &period }

func (e specEditor) SetLinuxResourcesCPUQuota(quota int64) { e.cpu().Quota = &quota }

func (e specEditor) SetLinuxResourcesCPURealtimePeriod(period uint64) {
	e.cpu().RealtimePeriod = &period
}

func (e specEditor) SetLinuxResourcesCPURealtimeRuntime(t int64) { e.cpu().RealtimeRuntime = &t }

func (e specEditor) SetLinuxResourcesCPUShares(shares uint64) { e.cpu().Shares = &shares }

func (e specEditor) SetLinuxResourcesMemoryLimit(limit int64) { e.memory().Limit = &limit }

func (e specEditor) SetLinuxResourcesMemorySwap(swap int64) { e.memory().Swap = &swap }

func (e specEditor) SetLinuxRootPropagation(rp string) error {
	switch rp {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
		e.linux().RootfsPropagation = rp
		return nil
	}
	return fmt.Errorf("rootfs propagation %q", rp)
}
