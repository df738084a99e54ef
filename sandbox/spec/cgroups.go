package spec

import (
	"path"
	"strings"
)

// CgroupsPath spells the spec's Linux.CgroupsPath for a pod or container
// whose pod asked for cgroup parent `parent` (linux.cgroup_parent).
//
// cgroupfs: parent must be an absolute path; the result is "<parent>/<id>".
// systemd: parent is a slice ("kubepods-burstable-pod123.slice"; a path of
// slices is reduced to its last element, as kubelet sometimes sends one);
// the result is "<slice>:crid:<id>", which runc-style drivers turn into the
// transient unit crid-<id>.scope under that slice.
func CgroupsPath(driver CgroupDriver, parent, id string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/:") || id == "." || id == ".." {
		return "", invalidf("id", "%q cannot name a cgroup", id)
	}
	switch driver {
	case SystemdDriver:
		slice := parent
		if strings.Contains(slice, "/") {
			slice = path.Base(slice)
		}
		if slice == "" || slice == "/" {
			slice = "system.slice"
		}
		if !strings.HasSuffix(slice, ".slice") || strings.Contains(slice, ":") {
			return "", invalidf("linux.cgroup_parent", "%q is not a systemd slice name", parent)
		}
		return slice + ":crid:" + id, nil
	case CgroupfsDriver, "":
		if parent == "" {
			parent = "/crid"
		}
		if !path.IsAbs(parent) {
			return "", invalidf("linux.cgroup_parent", "%q must be an absolute cgroup path with the cgroupfs driver", parent)
		}
		// Clean keeps an absolute path inside the hierarchy: "/../x" is "/x".
		return path.Join(path.Clean(parent), id), nil
	default:
		return "", invalidf("cgroup driver", "unknown driver %q", driver)
	}
}

// cgroupParent picks the pod's parent, falling back to the host default. With
// the systemd driver and no default, a pod gets a slice of its own under
// crid.slice (crid-pod<id>.slice, which the cgroups package stops with the
// pod's last unit: keep the prefix in step with cgroups.PodSlicePrefix), so
// systemd shows each pod as a slice and its containers as scopes in it.
func cgroupParent(h Host, podParent, podID string) string {
	switch {
	case podParent != "":
		return podParent
	case h.DefaultCgroupParent != "":
		return h.DefaultCgroupParent
	case h.CgroupDriver == SystemdDriver:
		return "crid-pod" + podID + ".slice"
	}
	return ""
}
