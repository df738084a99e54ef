package oci

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	sealedOnce sync.Once
	sealedExe  *os.File
	sealedErr  error
)

// sealedSelf returns a read-only view of the running binary, made once per
// process. The container init and exec processes are started from it, so
// /proc/<pid>/exe inside the container can never be opened for writing
// (CVE-2019-5736: a container overwriting the runtime binary through
// /proc/self/exe).
//
// The preferred view is a detached read-only bind mount of the binary
// (open_tree + mount_setattr): it costs a few syscalls and no memory, and
// since that mount ends up in no mount namespace nobody can make it writable.
// A sealed memfd copy is the fallback; it would cost a copy of the binary in
// RAM (shmem) per monitor process — several MiB per pod — which is why it is
// not the first choice (BenchmarkSealSelf measures both).
func sealedSelf() (*os.File, error) {
	sealedOnce.Do(func() {
		sealedExe, sealedErr = roBindSelf()
		if sealedErr != nil {
			sealedExe, sealedErr = makeSealedSelf()
		}
	})
	return sealedExe, sealedErr
}

func roBindSelf() (*os.File, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree self: %w", err)
	}
	t := os.NewFile(uintptr(tree), "crid-init-tree")
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
		t.Close()
		return nil, fmt.Errorf("read-only self: %w", err)
	}
	// Reopen through the magic link: a real file on the read-only mount.
	f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", tree))
	// Closing the tree fd dissolves the detached mount: it stays alive for
	// the file we hold but is then mounted nowhere, so not even a process
	// with CAP_SYS_ADMIN reaching it through /proc/<pid>/exe can remount or
	// mount_setattr it writable (both refuse a mount that is not mounted).
	t.Close()
	if err != nil {
		return nil, err
	}
	return f, nil
}

func makeSealedSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("crid-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err != nil {
		// Kernels before 6.3 do not know MFD_EXEC.
		fd, err = unix.MemfdCreate("crid-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "crid-init")
	if st, err := src.Stat(); err == nil {
		_ = unix.Fallocate(fd, 0, 0, st.Size())
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy self: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal self: %w", err)
	}
	return f, nil
}

// selfPath is what to execve: the sealed copy through the caller's fd table
// (the child inherits it; close-on-exec drops it once the kernel has the file).
func selfPath() (string, error) {
	f, err := sealedSelf()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd()), nil
}
