package oci

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resetSignals gives the user's process what a process started by containerd's
// shims gets: no signal ignored, none blocked. Ignored dispositions and the
// blocked mask survive execve, and the init inherits its monitor's: crid-monitor
// ignores SIGHUP, SIGINT and SIGPIPE (it must outlive a terminal), and the Go
// runtime keeps an inherited ignored SIGHUP or SIGINT as it is. Without this a
// container's process would shrug off a ^C through its tty and a SIGINT or
// SIGHUP from kill. Before any seccomp filter (a profile may deny
// rt_sigaction); a signal between here and execve acts on the init as it would
// on the process.
func resetSignals() error {
	// The kernel's struct sigaction on 64-bit amd64/arm64/riscv64/ppc64le/s390x:
	// handler, flags, restorer, mask. All zero is SIG_DFL without flags or mask.
	var dfl, old [4]uint64
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			return fmt.Errorf("rt_sigaction %d: %w", sig, e)
		}
		if old[0] != 1 { // SIG_IGN; the Go runtime's handlers are reset by execve
			continue
		}
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0); e != 0 {
			return fmt.Errorf("reset signal %d: %w", sig, e)
		}
	}
	// This thread execs (the init is locked to it).
	var none unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &none, nil); err != nil {
		return fmt.Errorf("unblock signals: %w", err)
	}
	return nil
}
