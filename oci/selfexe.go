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

// sealedSelf returns a sealed memfd copy of the running binary, made once per
// process. The container init and exec processes are started from it, so
// /proc/<pid>/exe inside the container points at an immutable in-memory file,
// never at the monitor binary on disk (CVE-2019-5736: a container overwriting
// the runtime binary through /proc/self/exe). The copy costs one read of the
// binary per monitor process (a few ms for crid-monitor), not per container.
func sealedSelf() (*os.File, error) {
	sealedOnce.Do(func() { sealedExe, sealedErr = makeSealedSelf() })
	return sealedExe, sealedErr
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
