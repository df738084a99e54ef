// Package hoststate reads what runs and is mounted on the host, so that the e2e tests and
// the demo can find, and remove by pid or mount point, exactly what they made.
package hoststate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// Proc is one process from /proc.
type Proc struct {
	PPid    int
	Cmdline string // NULs as spaces
	Cgroup  string // /proc/PID/cgroup as is
}

// Procs reads every process (those that exit meanwhile are skipped).
func Procs() map[int]Proc {
	ents, _ := os.ReadDir("/proc")
	m := map[int]Proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// comm may hold spaces and parens: the fields start after the last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		m[pid] = Proc{PPid: ppid, Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")), Cgroup: string(cg)}
	}
	return m
}

// WithDescendants returns roots and all their descendants in procs, sorted, never the
// calling process.
func WithDescendants(procs map[int]Proc, roots []int) []int {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.PPid] = append(children[p.PPid], pid)
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] || pid == os.Getpid() {
			return
		}
		seen[pid] = true
		out = append(out, pid)
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	sort.Ints(out)
	return out
}

// Describe lists pids with their command lines, for error messages.
func Describe(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		fmt.Fprintf(&b, "[%d %q] ", pid, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return strings.TrimSpace(b.String())
}

// Alive reports whether the process exists and is not a zombie.
func Alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// Kill SIGKILLs pids and waits until none is alive.
func Kill(pids []int, timeout time.Duration) error {
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range pids {
			if Alive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes survive SIGKILL: %s", Describe(alive))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Mounts lists the mount points of this mount namespace that match, deepest first.
func Mounts(match func(mountpoint string) bool) []string {
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return !match(m.Mountpoint), false
	})
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var mps []string
	for _, m := range infos {
		if !seen[m.Mountpoint] {
			seen[m.Mountpoint] = true
			mps = append(mps, m.Mountpoint)
		}
	}
	sort.SliceStable(mps, func(i, j int) bool { return strings.Count(mps[i], "/") > strings.Count(mps[j], "/") })
	return mps
}

// Unmount detaches the mount points in order (callers pass them deepest first).
func Unmount(mps []string) error {
	var errs []string
	for _, mp := range mps {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			errs = append(errs, fmt.Sprintf("unmount %s: %v", mp, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// MissingCgroups lists the cgroup dir name (relative to each hierarchy root, e.g. crid's
// default parent "crid") in every hierarchy where it does not exist yet, so that a run can
// remove, once empty, what it created and nothing else (rmdir never removes a cgroup with
// members or children).
func MissingCgroups(name string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup") // v2: one tree
	var out []string
	for _, root := range roots {
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue // not a hierarchy root
		}
		dir := filepath.Join(root, name)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			out = append(out, dir)
		}
	}
	return out
}
