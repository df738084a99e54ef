package cgroups

import (
	"errors"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where the host's cgroup filesystems are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// Tree is a cgroup filesystem layout: where it is mounted and which version
// drives the controllers.
type Tree struct {
	// Root is the mount point: the unified hierarchy itself on v2, the
	// directory holding one mount per hierarchy on v1.
	Root string
	// Unified: the host runs the unified hierarchy only. A hybrid host (v1
	// controllers plus an empty "unified" mount) is driven through v1: that
	// is where the controllers are.
	Unified bool
	// Systemd: systemd is the init system, so a cgroup path naming a scope
	// in a slice (the systemd cgroup driver's) is a transient unit made and
	// removed over D-Bus. Without systemd such paths are plain directories.
	Systemd bool
}

var errNoRoot = errors.New("cgroup tree: no root directory given (use cgroups.HostTree)")

// valid refuses a zero Tree: every path would be relative to the working
// directory.
func (t Tree) valid() error {
	if !filepath.IsAbs(t.Root) {
		return errNoRoot
	}
	return nil
}

// HostTree detects the host's layout at DefaultRoot.
func HostTree() Tree {
	var st unix.Statfs_t
	unified := unix.Statfs(DefaultRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	return Tree{Root: DefaultRoot, Unified: unified, Systemd: SystemdRunning()}
}
