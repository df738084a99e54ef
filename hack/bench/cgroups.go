package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// cgroupRoot names the cgroup under which the bench's pods get their cgroup parents (one
// per endpoint and run, so runs and runtimes side by side never share one).
func (b *bench) cgroupRoot() string { return "crid-bench-" + b.runID }

// removeCgroupTree removes the (empty, once every pod is gone) cgroup directories under
// name in every hierarchy, deepest first, as kubelet removes its pod cgroups; it returns
// those it could not remove. Nothing is ever killed: a cgroup still holding a process
// stays and is reported.
func removeCgroupTree(name string) []string {
	roots := []string{"/sys/fs/cgroup"}
	if ents, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, e := range ents {
			if e.IsDir() { // v1 hierarchies (and v2's own child cgroups, which hold no name of ours)
				roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
			}
		}
	}
	var left []string
	for _, root := range roots {
		top := filepath.Join(root, name)
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, de fs.DirEntry, err error) error {
			if err == nil && de.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs) // children before parents
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				left = append(left, d)
			}
		}
	}
	return left
}
