package spec

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/crid-dev/crid/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// procMountable are the /proc files a CRI mount may cover (what lxcfs
// provides); mounting over anything else in /proc could hide the masks that
// keep a container from the host (runc refuses the same).
var procMountable = []string{
	"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
	"/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid",
	"/proc/net/dev",
}

// defaultMounts are the kernel filesystems every container gets, then the
// pod's files. Privileged containers get sysfs and the cgroup tree writable.
func defaultMounts(files PodFiles, privileged, userns bool) []specs.Mount {
	sysMode := "ro"
	if privileged {
		sysMode = "rw"
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", sysMode}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", sysMode}},
	}
	if userns {
		// gid 5 (tty) need not be mapped in the pod's user namespace, and
		// devpts refuses an unmapped gid.
		pts := &ms[2]
		pts.Options = slices.DeleteFunc(pts.Options, func(o string) bool { return o == "gid=5" })
	}
	if files.Shm != "" {
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: files.Shm, Options: []string{"rbind", "rprivate", "nosuid", "nodev", "noexec"}})
	} else {
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}})
	}
	// The pod's files are read-only (containerd binds them rw unless the rootfs is
	// read-only): they live in the state dir, on the host's /run tmpfs, where a
	// writable bind would let a container fill the node's memory-backed /run,
	// and they are shared, so one container could rewrite its siblings' DNS.
	// kubelet never needs them writable from inside; a pod that does mounts its
	// own volume there, which replaces the default (mergeMounts).
	for _, f := range []struct{ dst, src string }{
		{"/etc/hosts", files.Hosts},
		{"/etc/resolv.conf", files.ResolvConf},
		{"/etc/hostname", files.Hostname},
	} {
		if f.src != "" {
			ms = append(ms, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src,
				Options: []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}})
		}
	}
	return ms
}

var propagationOption = map[runtime.MountPropagation]string{
	runtime.MountPropagation_PROPAGATION_PRIVATE:           "rprivate",
	runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER: "rslave",
	runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL:     "rshared",
}

// criMounts converts the request's mounts to bind mounts.
func criMounts(in []*runtime.Mount) ([]specs.Mount, error) {
	out := make([]specs.Mount, 0, len(in))
	seen := map[string]int{}
	for i, m := range in {
		f := fmt.Sprintf("mounts[%d]", i)
		if m == nil {
			return nil, invalidf(f, "missing")
		}
		dst, err := containerPath(m.GetContainerPath(), f+".container_path")
		if err != nil {
			return nil, err
		}
		if j, dup := seen[dst]; dup {
			return nil, invalidf(f+".container_path", "%q is also mounts[%d]", dst, j)
		}
		seen[dst] = i
		if m.GetImage() != nil {
			return nil, fmt.Errorf("%s.image: image volume mounts are not supported: %w", f, errdefs.ErrUnimplemented)
		}
		src := m.GetHostPath()
		if !path.IsAbs(src) {
			return nil, invalidf(f+".host_path", "%q must be absolute", src)
		}
		prop, ok := propagationOption[m.GetPropagation()]
		if !ok {
			return nil, invalidf(f+".propagation", "unknown propagation %d", m.GetPropagation())
		}
		opts := []string{"rbind", prop}
		switch {
		case m.GetRecursiveReadOnly():
			if !m.GetReadonly() {
				return nil, invalidf(f+".recursive_read_only", "requires readonly")
			}
			if m.GetPropagation() != runtime.MountPropagation_PROPAGATION_PRIVATE {
				return nil, invalidf(f+".recursive_read_only", "requires private propagation")
			}
			// "ro" for the top mount even where "rro" is not understood.
			opts = append(opts, "ro", "rro")
		case m.GetReadonly():
			opts = append(opts, "ro")
		default:
			opts = append(opts, "rw")
		}
		for j, o := range m.GetMountOptions() {
			if o == "" || strings.ContainsAny(o, ",\x00") {
				return nil, invalidf(fmt.Sprintf("%s.mount_options[%d]", f, j), "%q is not one mount option", o)
			}
			opts = append(opts, o)
		}
		sm := specs.Mount{Destination: dst, Type: "bind", Source: path.Clean(src), Options: opts}
		if sm.UIDMappings, err = mountMappings(m.GetUidMappings(), f+".uidMappings"); err != nil {
			return nil, err
		}
		if sm.GIDMappings, err = mountMappings(m.GetGidMappings(), f+".gidMappings"); err != nil {
			return nil, err
		}
		out = append(out, sm)
	}
	return out, nil
}

// mountMappings: an idmapped mount; the executor applies it with
// mount_setattr(MOUNT_ATTR_IDMAP).
func mountMappings(in []*runtime.IDMapping, field string) ([]specs.LinuxIDMapping, error) {
	if len(in) == 0 {
		return nil, nil
	}
	return idMappings(in, field)
}

// containerPath checks a destination inside the container.
func containerPath(p, field string) (string, error) {
	if !path.IsAbs(p) {
		return "", invalidf(field, "%q must be absolute", p)
	}
	c := path.Clean(p)
	if c == "/" {
		return "", invalidf(field, "cannot mount over the root")
	}
	if (c == "/proc" || strings.HasPrefix(c, "/proc/")) && !slices.Contains(procMountable, c) {
		return "", invalidf(field, "cannot mount over %q", c)
	}
	return c, nil
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// ImageVolumes lists the image config's VOLUMEs that need a host directory
// (ContainerInput.VolumeDirs): cleaned absolute container paths, sorted,
// leaving out those a CRI mount already covers. A relative VOLUME is taken
// from "/", as Docker does.
func ImageVolumes(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) ([]string, error) {
	var out []string
	for v := range img.Volumes {
		dst := path.Clean("/" + v)
		if _, err := containerPath(dst, fmt.Sprintf("image config Volumes[%q]", v)); err != nil {
			return nil, err
		}
		covered := slices.ContainsFunc(cfg.GetMounts(), func(m *runtime.Mount) bool {
			return path.IsAbs(m.GetContainerPath()) && under(dst, path.Clean(m.GetContainerPath()))
		})
		if !covered && !slices.Contains(out, dst) {
			out = append(out, dst)
		}
	}
	sort.Strings(out)
	return out, nil
}

// volumeMounts bind mounts the directories the sandbox made for the image's
// volumes.
func volumeMounts(vols []string, dirs map[string]string) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, v := range vols {
		src, ok := dirs[v]
		if !ok {
			continue
		}
		if !path.IsAbs(src) {
			return nil, invalidf(fmt.Sprintf("VolumeDirs[%q]", v), "%q must be absolute", src)
		}
		out = append(out, specs.Mount{Destination: v, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", "rw"}})
	}
	return out, nil
}

// mergeMounts drops defaults a requested mount replaces (same destination
// or beneath it: a CRI /dev replaces crid's /dev/pts too), then orders all
// by depth so that a parent is mounted before what goes inside it. The sort
// is stable: at equal depth the order given is kept.
func mergeMounts(defaults []specs.Mount, requested ...[]specs.Mount) []specs.Mount {
	var req []specs.Mount
	for _, r := range requested {
		req = append(req, r...)
	}
	out := slices.DeleteFunc(slices.Clone(defaults), func(d specs.Mount) bool {
		return slices.ContainsFunc(req, func(r specs.Mount) bool { return under(d.Destination, r.Destination) })
	})
	out = append(out, req...)
	sort.SliceStable(out, func(i, j int) bool { return depth(out[i].Destination) < depth(out[j].Destination) })
	return out
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// rootPropagation: a shared (bidirectional) mount needs the container's root
// shared, a slave one needs it at least slave, or the propagation the pod
// asked for would not happen.
func rootPropagation(ms []specs.Mount) string {
	prop := ""
	for _, m := range ms {
		switch {
		case slices.Contains(m.Options, "rshared"):
			return "rshared"
		case slices.Contains(m.Options, "rslave"):
			prop = "rslave"
		}
	}
	return prop
}
