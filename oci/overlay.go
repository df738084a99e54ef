package oci

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// mountOverlay mounts an overlay rootfs at root the way this kernel takes it
// (kernel.Features.Overlay, probed once by the executor).
func mountOverlay(root string, o mountOpts, how kernel.OverlayMount) error {
	switch how {
	case kernel.OverlayLowerdirPlus:
		return mountOverlayLowerdirPlus(root, o)
	case kernel.OverlayLowerdirString:
		return mountOverlayString(root, o)
	}
	return fmt.Errorf("rootfs overlay: this kernel cannot mount overlayfs (probe: %q)", how)
}

// mountOverlayLowerdirPlus uses the new mount API, one "lowerdir+" per layer
// (Linux 6.8): no limit on the layers' paths.
func mountOverlayLowerdirPlus(root string, o mountOpts) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("rootfs overlay: %w", err)
	}
	defer unix.Close(fsfd)
	_ = unix.FsconfigSetString(fsfd, "source", "overlay")
	for _, d := range o.data {
		k, v, hasValue := strings.Cut(d, "=")
		switch {
		case k == "lowerdir":
			for _, l := range strings.Split(v, ":") {
				if err = unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
					break
				}
			}
		case hasValue:
			err = unix.FsconfigSetString(fsfd, k, v)
		default:
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return fmt.Errorf("rootfs overlay option %q: %w", d, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("rootfs overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(o.attrSet))
	if err != nil {
		return fmt.Errorf("rootfs overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, root, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("rootfs overlay: attach: %w", err)
	}
	return nil
}

// mountOverlayString is the fallback for kernels before 6.8: mount(2) with
// the classic option string, which must fit in one page. fsconfig is no
// help there (one string value is at most 256 bytes). Each layer is named by
// an fd held meanwhile ("/proc/self/fd/12"), so the string's length depends
// on the number of layers only: about 240 fit, not 20 or so of crid's
// 100-byte layer paths. containerd gets the same effect from paths relative
// to the layers' common parent, which needs a chdir this init avoids.
func mountOverlayString(root string, o mountOpts) error {
	var opts []string
	layers := 0
	for _, d := range o.data {
		k, v, _ := strings.Cut(d, "=")
		if k != "lowerdir" {
			opts = append(opts, d)
			continue
		}
		dirs := strings.Split(v, ":")
		layers = len(dirs)
		fds, lowerdir, err := kernel.OpenLayers(dirs)
		if err != nil {
			return fmt.Errorf("rootfs overlay: %w", err)
		}
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
		opts = append(opts, "lowerdir="+lowerdir)
	}
	data := strings.Join(opts, ",")
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("rootfs overlay: %d bytes of options exceed the kernel's one page (%d layers): this kernel (< 6.8) cannot take that many layers", len(data), layers)
	}
	if err := unix.Mount("overlay", root, "overlay", o.flags, data); err != nil {
		return fmt.Errorf("rootfs overlay (lowerdir= string): %w", err)
	}
	return nil
}
