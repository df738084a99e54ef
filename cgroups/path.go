package cgroups

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ParsePath resolves a spec's linux.cgroupsPath to a path relative to each
// hierarchy root. A systemd-style "slice:prefix:name" maps to the path systemd
// gives that unit ("a-b.slice:cri:id" -> "/a.slice/a-b.slice/cri-id.scope").
// The root cgroup and paths climbing out of the hierarchy are refused.
func ParsePath(cgroupsPath string) (string, error) {
	if cgroupsPath == "" {
		return "", errors.New("spec has no linux.cgroupsPath")
	}
	p := cgroupsPath
	if isSliceName(p) {
		// A bare slice (a systemd-driver cgroup_parent) is the slice's cgroup.
		p = filepath.Join("/", ExpandSlice(p))
	} else if u, ok := parseUnit(p); ok {
		p = filepath.Join("/", ExpandSlice(u.Slice), u.Name)
	} else if strings.HasPrefix(p, "/") {
		p = filepath.Clean(p) // no copy when already clean: the stats path parses every container's each pass
	} else {
		p = filepath.Clean("/" + p)
	}
	if p == "/" || strings.Contains(p, "/../") {
		return "", fmt.Errorf("cgroupsPath %q: refusing the root cgroup", cgroupsPath)
	}
	return p, nil
}

// isSliceName tells a systemd slice name ("kubepods-pod1.slice") from a path.
func isSliceName(p string) bool {
	return strings.HasSuffix(p, ".slice") && !strings.ContainsAny(p, "/:")
}

// unit is a systemd-style cgroupsPath: the unit Name ("cri-<id>.scope", or a
// slice) placed in Slice.
type unit struct{ Slice, Name string }

// parseUnit splits "slice:prefix:name" as runc's systemd driver reads it.
func parseUnit(p string) (unit, bool) {
	if strings.HasPrefix(p, "/") || strings.Count(p, ":") != 2 {
		return unit{}, false
	}
	parts := strings.Split(p, ":")
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if !strings.HasSuffix(name, ".slice") {
		if prefix != "" {
			name = prefix + "-" + name
		}
		name += ".scope"
	}
	return unit{Slice: slice, Name: name}, true
}

// ExpandSlice turns "a-b-c.slice" into "a.slice/a-b.slice/a-b-c.slice" as
// systemd does.
func ExpandSlice(slice string) string {
	if slice == "-.slice" || !strings.HasSuffix(slice, ".slice") {
		return slice
	}
	name := strings.TrimSuffix(slice, ".slice")
	var path, prefix string
	for _, part := range strings.Split(name, "-") {
		if part == "" {
			continue
		}
		prefix += part
		path = filepath.Join(path, prefix+".slice")
		prefix += "-"
	}
	return path
}
