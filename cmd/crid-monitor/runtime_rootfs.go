package main

import (
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountRootfs mounts a container's overlay rootfs on the host at m.Destination (the
// spec's root.path) for an external runtime. The layer list goes in mount(2)'s one-page
// option string when it fits; a longer one is given layer by layer (fsconfig
// "lowerdir+", Linux 6.8).
func mountRootfs(m specs.Mount) error {
	if m.Type != "overlay" {
		return fmt.Errorf("rootfs mount of type %q: only overlay is supported", m.Type)
	}
	data := strings.Join(m.Options, ",")
	if len(data) < os.Getpagesize()-1 {
		if err := unix.Mount(m.Source, m.Destination, "overlay", 0, data); err != nil {
			return fmt.Errorf("mount overlay on %s: %w", m.Destination, err)
		}
		return nil
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		if k == "lowerdir" {
			for _, l := range strings.Split(v, ":") {
				if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
					return fmt.Errorf("overlay lowerdir+ %s (needs Linux 6.8 for this many layers): %w", l, err)
				}
			}
			continue
		}
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("overlay %s: %w", k, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("overlay create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, m.Destination, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach overlay on %s: %w", m.Destination, err)
	}
	return nil
}
