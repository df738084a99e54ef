package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Destroy kills whatever is left in the cgroup at path (and its children) and
// removes it. It is idempotent: a missing cgroup is not an error.
func (t Tree) Destroy(path string) error {
	if err := t.valid(); err != nil {
		return err
	}
	dirs := t.Dirs(path)
	// Kill until empty: a fork bomb may keep adding tasks while we kill; freezing
	// would stop it but a frozen v1 cgroup with a dying task can hang rmdir.
	for try := 0; ; try++ {
		pids := procsUnder(dirs)
		if len(pids) == 0 {
			break
		}
		if try > 500 {
			return fmt.Errorf("cgroup %s: %d processes survive SIGKILL", path, len(pids))
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(time.Duration(min(try+1, 20)) * time.Millisecond)
	}
	if _, _, ok := t.unitOf(path); ok {
		// systemd removes the unit's cgroup (and what crid made below it
		// in the delegated subtree) when it stops the unit.
		return t.stopUnits(path)
	}
	var errs []error
	for _, d := range dirs {
		if err := removeDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dirs lists the existing directories of the cgroup at path in every hierarchy.
func (t Tree) Dirs(path string) []string {
	if t.valid() != nil {
		return nil
	}
	if t.Unified {
		d := filepath.Join(t.Root, path)
		if _, err := os.Stat(d); err != nil {
			return nil
		}
		return []string{d}
	}
	ents, err := os.ReadDir(t.Root)
	if err != nil {
		return nil
	}
	var dirs []string
	for _, e := range ents {
		d := filepath.Join(t.Root, e.Name(), path)
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// Procs lists the processes in the cgroup at path and its children. Every
// task is in every hierarchy, so one is read: pids on v1 (memory if pids is
// not mounted), the unified one on v2. The root cgroup (the whole host) is
// never listed.
func (t Tree) Procs(path string) []int {
	return procsUnder(t.ProcsDirs(path))
}

// ProcsDirs are the directories whose cgroup.procs, with their children's, Procs reads.
func (t Tree) ProcsDirs(path string) []string {
	if t.valid() != nil || path == "" || filepath.Clean("/"+path) == "/" {
		return nil
	}
	if t.Unified {
		return t.Dirs(path)
	}
	for _, h := range []string{"pids", "memory"} {
		d := filepath.Join(t.Root, h, path)
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
			return []string{d}
		}
	}
	return nil
}

// procsUnder reads cgroup.procs of each directory and its children.
func procsUnder(dirs []string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(path string, de os.DirEntry, err error) error {
			if err != nil || !de.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeDir removes d and its child cgroups, deepest first.
func removeDir(d string) error {
	var sub []string
	_ = filepath.WalkDir(d, func(path string, de os.DirEntry, err error) error {
		if err == nil && de.IsDir() {
			sub = append(sub, path)
		}
		return nil
	})
	var last error
	for i := len(sub) - 1; i >= 0; i-- {
		for try := 0; ; try++ {
			err := syscall.Rmdir(sub[i])
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			// EBUSY while the kernel finishes tearing down killed tasks.
			if errors.Is(err, syscall.EBUSY) && try < 100 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			last = fmt.Errorf("rmdir %s: %w", sub[i], err)
			break
		}
	}
	return last
}
