package spec

import (
	"fmt"
	"math"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxIDMappings is the kernel's limit of lines in uid_map/gid_map.
const maxIDMappings = 340

// podNamespaces lists what the infra process creates: a namespace with a
// Path is joined (the pinned network namespace), one without is new, and a
// NODE mode namespace is absent (the host's).
func podNamespaces(ns *runtime.NamespaceOption, netnsPath string, cgroupV2 bool) ([]specs.LinuxNamespace, error) {
	const f = "linux.security_context.namespace_options."
	out := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	switch ns.GetNetwork() {
	case runtime.NamespaceMode_NODE:
	case runtime.NamespaceMode_POD:
		if netnsPath == "" {
			return nil, invalidf("NetNSPath", "pod network namespace path is required unless the pod uses the host network")
		}
		out = append(out, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netnsPath},
			specs.LinuxNamespace{Type: specs.UTSNamespace})
	default:
		return nil, invalidf(f+"network", "mode %s is not supported for a pod", ns.GetNetwork())
	}
	switch ns.GetIpc() {
	case runtime.NamespaceMode_NODE:
	case runtime.NamespaceMode_POD:
		out = append(out, specs.LinuxNamespace{Type: specs.IPCNamespace})
	default:
		return nil, invalidf(f+"ipc", "mode %s is not supported for a pod", ns.GetIpc())
	}
	switch ns.GetPid() {
	case runtime.NamespaceMode_NODE:
	case runtime.NamespaceMode_POD, runtime.NamespaceMode_CONTAINER:
		// With CONTAINER each container gets its own; the infra keeps one
		// of its own too so it never sees the node's processes.
		out = append(out, specs.LinuxNamespace{Type: specs.PIDNamespace})
	default:
		return nil, invalidf(f+"pid", "mode %s is not supported for a pod", ns.GetPid())
	}
	if usernsMode(ns) == runtime.NamespaceMode_POD {
		out = append(out, specs.LinuxNamespace{Type: specs.UserNamespace})
	}
	if cgroupV2 {
		out = append(out, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return out, nil
}

// PodNamespacePaths are the namespaces a pod's infra process (infraPid) holds
// for its containers to join, given the pod's namespace_options as PodSpec
// accepted them and its pinned network namespace. Only mode POD gives a path,
// named explicitly rather than as "not NODE": POD is the zero value, so a pod
// without namespace_options (nil, or a field left out) shares each namespace in
// the pod, as CRI says, while NODE, CONTAINER and TARGET own none a container
// could join (with pid CONTAINER each container makes its own). The user
// namespace is the exception to "missing is POD": without userns_options the
// pod has none (NODE), like usernsMode.
func PodNamespacePaths(ns *runtime.NamespaceOption, infraPid int, netnsPath string) NamespacePaths {
	proc := func(kind string) string { return fmt.Sprintf("/proc/%d/ns/%s", infraPid, kind) }
	var p NamespacePaths
	if ns.GetNetwork() == runtime.NamespaceMode_POD {
		// The infra made the UTS namespace with the network one: a pod on the
		// host's network keeps the host's hostname too (see podNamespaces).
		p.Network, p.UTS = netnsPath, proc("uts")
	}
	if ns.GetIpc() == runtime.NamespaceMode_POD {
		p.IPC = proc("ipc")
	}
	if ns.GetPid() == runtime.NamespaceMode_POD {
		p.PID = proc("pid")
	}
	if usernsMode(ns) == runtime.NamespaceMode_POD {
		p.User = proc("user")
	}
	return p
}

func usernsMode(ns *runtime.NamespaceOption) runtime.NamespaceMode {
	if ns.GetUsernsOptions() == nil {
		return runtime.NamespaceMode_NODE
	}
	return ns.GetUsernsOptions().GetMode()
}

// userMappings validates userns_options and returns the uid and gid maps
// (nil, nil when the pod uses the host's user namespace). A pod with its own
// user namespace cannot share the node's network, IPC or PID namespaces:
// kubelet refuses the combination, and the kernel would not let the pod
// mount sysfs or proc for them.
func userMappings(ns *runtime.NamespaceOption) (uids, gids []specs.LinuxIDMapping, err error) {
	const f = "linux.security_context.namespace_options.userns_options"
	switch usernsMode(ns) {
	case runtime.NamespaceMode_NODE:
		return nil, nil, nil
	case runtime.NamespaceMode_POD:
	default:
		return nil, nil, invalidf(f+".mode", "%s is not supported (POD or NODE)", usernsMode(ns))
	}
	if ns.GetNetwork() == runtime.NamespaceMode_NODE || ns.GetIpc() == runtime.NamespaceMode_NODE || ns.GetPid() == runtime.NamespaceMode_NODE {
		return nil, nil, invalidf(f, "a user namespace cannot be combined with host network, IPC or PID")
	}
	if uids, err = idMappings(ns.GetUsernsOptions().GetUids(), f+".uids"); err != nil {
		return nil, nil, err
	}
	if gids, err = idMappings(ns.GetUsernsOptions().GetGids(), f+".gids"); err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

// idMappings: non-empty, at most maxIDMappings, each non-empty and within
// 32 bits, and neither the container nor the host ranges overlap (the
// kernel refuses such maps, and an overlap on the host side would give two
// container ids one host id).
func idMappings(in []*runtime.IDMapping, field string) ([]specs.LinuxIDMapping, error) {
	if len(in) == 0 {
		return nil, invalidf(field, "at least one mapping is required")
	}
	if len(in) > maxIDMappings {
		return nil, invalidf(field, "%d mappings, the kernel allows %d", len(in), maxIDMappings)
	}
	out := make([]specs.LinuxIDMapping, 0, len(in))
	for i, m := range in {
		fi := fmt.Sprintf("%s[%d]", field, i)
		if m.GetLength() == 0 {
			return nil, invalidf(fi+".length", "must not be 0")
		}
		if uint64(m.GetContainerId())+uint64(m.GetLength()) > math.MaxUint32 || uint64(m.GetHostId())+uint64(m.GetLength()) > math.MaxUint32 {
			return nil, invalidf(fi, "range overflows 32 bits")
		}
		for j, o := range out {
			if overlap(o.ContainerID, o.Size, m.GetContainerId(), m.GetLength()) {
				return nil, invalidf(fi+".container_id", "range overlaps %s[%d]", field, j)
			}
			if overlap(o.HostID, o.Size, m.GetHostId(), m.GetLength()) {
				return nil, invalidf(fi+".host_id", "range overlaps %s[%d]", field, j)
			}
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()})
	}
	return out, nil
}

func overlap(a, alen, b, blen uint32) bool {
	return uint64(a) < uint64(b)+uint64(blen) && uint64(b) < uint64(a)+uint64(alen)
}

// containerNamespaces lists what a container joins or creates. ns is the
// container's namespace_options (falling back to the pod's).
func containerNamespaces(in ContainerInput, ns *runtime.NamespaceOption, privileged bool) ([]specs.LinuxNamespace, error) {
	const f = "linux.security_context.namespace_options."
	paths := in.PodNamespaces
	out := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	join := func(t specs.LinuxNamespaceType, path, name string) error {
		if path == "" {
			return invalidf("PodNamespaces."+name, "the pod's %s namespace path is required", t)
		}
		out = append(out, specs.LinuxNamespace{Type: t, Path: path})
		return nil
	}
	switch ns.GetNetwork() {
	case runtime.NamespaceMode_NODE:
	case runtime.NamespaceMode_POD:
		if err := join(specs.NetworkNamespace, paths.Network, "Network"); err != nil {
			return nil, err
		}
		if err := join(specs.UTSNamespace, paths.UTS, "UTS"); err != nil {
			return nil, err
		}
	default:
		return nil, invalidf(f+"network", "mode %s is not supported", ns.GetNetwork())
	}
	switch ns.GetIpc() {
	case runtime.NamespaceMode_NODE:
	case runtime.NamespaceMode_POD:
		if err := join(specs.IPCNamespace, paths.IPC, "IPC"); err != nil {
			return nil, err
		}
	default:
		return nil, invalidf(f+"ipc", "mode %s is not supported", ns.GetIpc())
	}
	switch ns.GetPid() {
	case runtime.NamespaceMode_NODE:
	case runtime.NamespaceMode_POD:
		if err := join(specs.PIDNamespace, paths.PID, "PID"); err != nil {
			return nil, err
		}
	case runtime.NamespaceMode_CONTAINER:
		out = append(out, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case runtime.NamespaceMode_TARGET:
		if ns.GetTargetId() == "" {
			return nil, invalidf(f+"target_id", "required with pid mode TARGET")
		}
		if in.TargetPIDNamespace == "" {
			return nil, invalidf("TargetPIDNamespace", "the PID namespace of container %q is required", ns.GetTargetId())
		}
		out = append(out, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: in.TargetPIDNamespace})
	default:
		return nil, invalidf(f+"pid", "unknown mode %d", ns.GetPid())
	}
	if usernsMode(ns) == runtime.NamespaceMode_POD {
		if err := join(specs.UserNamespace, paths.User, "User"); err != nil {
			return nil, err
		}
	}
	if in.Host.CgroupV2 && !privileged {
		out = append(out, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return out, nil
}
