package cgroups

import (
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Hierarchy is one cgroup filesystem mounted directly below a Tree's root.
type Hierarchy struct {
	Dir    string   // name below the root: "memory", "cpu,cpuacct", "systemd", "unified"
	FSType string   // cgroup or cgroup2
	Opts   []string // controller names, "name=systemd"
	Root   string   // the cgroup the mount shows as its root ("/" on the host)
}

// Hierarchies lists the cgroup hierarchies mounted directly below t.Root, as
// this process's mount namespace sees them.
func (t Tree) Hierarchies() ([]Hierarchy, error) {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, err
	}
	return hierarchies(mounts, t.Root), nil
}

func hierarchies(mounts []*mountinfo.Info, root string) []Hierarchy {
	var out []Hierarchy
	for _, m := range mounts {
		if !strings.HasPrefix(m.Mountpoint, root+"/") {
			continue
		}
		h := Hierarchy{Dir: strings.TrimPrefix(m.Mountpoint, root+"/"), FSType: m.FSType, Root: m.Root}
		if m.FSType == "cgroup" {
			for _, opt := range strings.Split(m.VFSOptions, ",") {
				if opt != "rw" && opt != "ro" && !strings.HasPrefix(opt, "relatime") && opt != "nosuid" && opt != "nodev" && opt != "noexec" {
					h.Opts = append(h.Opts, opt)
				}
			}
		} else if m.FSType != "cgroup2" {
			continue
		}
		if strings.Contains(h.Dir, "/") {
			continue
		}
		out = append(out, h)
	}
	return out
}

// BindSources pairs each hierarchy with a process's cgroup in it (procCgroup
// is its /proc/<pid>/cgroup: lines "id:controllers:path", "0::path" being
// cgroup2) and returns the hierarchies' directories below t.Root and the
// host paths of the process's cgroup there. Both the lines and the mount
// roots are relative to the caller's cgroup namespace, so the path below the
// mount is the line's path minus the root. A hierarchy whose mount does not
// show the process's cgroup is left out.
func (t Tree) BindSources(hier []Hierarchy, procCgroup string) (dirs, srcs []string) {
	for _, h := range hier {
		for _, line := range strings.Split(procCgroup, "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || !sameHierarchy(h, parts[0], parts[1]) {
				continue
			}
			rel := parts[2]
			if h.Root != "/" && h.Root != "" {
				if rel != h.Root && !strings.HasPrefix(rel, h.Root+"/") {
					break
				}
				rel = strings.TrimPrefix(rel, h.Root)
			}
			dirs = append(dirs, h.Dir)
			srcs = append(srcs, t.Root+"/"+h.Dir+"/"+strings.TrimPrefix(rel, "/"))
			break
		}
	}
	return dirs, srcs
}

// sameHierarchy tells whether a /proc/<pid>/cgroup line's hierarchy id and
// controllers ("cpu,cpuacct", "name=systemd") name hierarchy h.
func sameHierarchy(h Hierarchy, id, controllers string) bool {
	if h.FSType == "cgroup2" || id == "0" {
		return h.FSType == "cgroup2" && id == "0" && controllers == ""
	}
	if controllers == "" {
		return false
	}
	for _, c := range strings.Split(controllers, ",") {
		if !slices.Contains(h.Opts, c) {
			return false
		}
	}
	return true
}
