package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// usedControllers are the v2 controllers crid sets limits with or reads
// statistics from, in the order they are enabled.
var usedControllers = []string{"cpu", "cpuset", "io", "memory", "pids", "hugetlb"}

// enableControllers makes every controller crid uses that the kernel offers
// available to the cgroup at path (relative to the root) by enabling it in
// cgroup.subtree_control of each level above, creating missing levels on the
// way, as runc's fs2 manager does. On v2 a cgroup only has a controller's
// files if its parent enabled it for its children, and the library enables
// only the controllers a container has limits for: a BestEffort pod had no
// memory.stat or io.stat for its statistics and no pids.max for a unified
// pids.max. Only controllers still missing are written, so a level where they
// are all enabled (the root, on a systemd host) is left untouched.
func (t Tree) enableControllers(path string) error {
	levels := strings.Split(strings.Trim(filepath.Clean("/"+path), "/"), "/")
	dir := t.Root
	if err := enableForChildren(dir); err != nil {
		return err
	}
	for _, name := range levels[:len(levels)-1] {
		dir = filepath.Join(dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if err := enableForChildren(dir); err != nil {
			return err
		}
	}
	return nil
}

// enableForChildren writes "+c" into dir's cgroup.subtree_control for each
// used controller dir has (cgroup.controllers) and has not enabled yet.
func enableForChildren(dir string) error {
	have, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", dir, err)
	}
	enabled, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", dir, err)
	}
	available, on := words(have), words(enabled)
	var missing []string
	for _, c := range usedControllers {
		if available[c] && !on[c] {
			missing = append(missing, "+"+c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	file := filepath.Join(dir, "cgroup.subtree_control")
	if os.WriteFile(file, []byte(strings.Join(missing, " ")), 0) == nil {
		return nil
	}
	// One refused controller refuses the whole write; enable the others one
	// by one. One the kernel still refuses (a level that holds processes
	// itself, in a delegated subtree) stays off: a limit that needs it then
	// fails with its own file's error, and a container without one runs.
	for _, c := range missing {
		_ = os.WriteFile(file, []byte(c), 0)
	}
	return nil
}

func words(b []byte) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(string(b)) {
		m[w] = true
	}
	return m
}
