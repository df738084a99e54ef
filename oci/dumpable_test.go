package oci

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// stopAtExecArg makes the test binary a tracer (see stopAtExecMain).
const stopAtExecArg = "stop-at-exec"

// stopAtExecMain seizes the process named by os.Args[2] and holds it when its
// seccomp filter traces a syscall (execve, in the test's profile): it prints
// "attached", then "stopped" at that point, and lets it go on a line from
// stdin. It is a process of its own because any wait4(-1) of the test's
// reaper would take the tracee's stops.
func stopAtExecMain() {
	runtime.LockOSThread()
	pid, _ := strconv.Atoi(os.Args[2])
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0,
		unix.PTRACE_O_TRACESECCOMP|unix.PTRACE_O_EXITKILL, 0, 0)
	if e != 0 {
		fmt.Println("seize:", e)
		os.Exit(1)
	}
	fmt.Println("attached")
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
			fmt.Println("tracee gone:", err, ws)
			os.Exit(1)
		}
		if ws.TrapCause() == unix.PTRACE_EVENT_SECCOMP {
			fmt.Println("stopped")
			_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
			_ = unix.PtraceDetach(pid)
			os.Exit(0)
		}
		sig := 0 // a signal the Go runtime sent itself goes through
		if ws.TrapCause() == -1 && ws.StopSignal() != unix.SIGTRAP {
			sig = int(ws.StopSignal())
		}
		_ = unix.PtraceCont(pid, sig)
	}
}

// An init is not dumpable until it execve()s the container's program (runc
// CVE-2016-9962): held at its execve, with the container's user and
// capabilities already set, the init is no more visible to a process of the
// container with the same user and capabilities than a setuid program would
// be; once the program runs, it is.
func TestInitNotDumpableUntilExecve(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sleep", "1000")
	// execve is where the init stops: SCMP_ACT_TRACE hands it to our tracer.
	spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"execve"}, Action: specs.ActTrace}}}
	c := create(t, spec, rootfs)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tracer := exec.Command(self, stopAtExecArg, itoa(c.Pid))
	release, err := tracer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := tracer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tracer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		release.Close()
		_ = tracer.Wait()
	}()
	lines := bufio.NewReader(stdout)
	expect := func(want string) {
		t.Helper()
		if l, err := lines.ReadString('\n'); err != nil || l != want+"\n" {
			t.Fatalf("tracer said %q (%v), want %q", l, err, want)
		}
	}
	expect("attached")
	started := make(chan error, 1)
	go func() { started <- c.Start() }() // it returns once the init execve()d
	expect("stopped")
	// A process of the container with the same user and capabilities, and
	// without a filter of its own (execve would wait for a tracer).
	probeSpec := *spec
	probeLinux := *spec.Linux
	probeLinux.Seccomp = nil
	probeSpec.Linux = &probeLinux
	probe := func() string {
		t.Helper()
		f, out := outFile(t)
		defer f.Close()
		pid, _, err := Exec(t.Context(), ExecOptions{Cgroups: hostTree, ContainerPid: c.Pid, Spec: &probeSpec, Stdio: Stdio{Stdout: f, Stderr: f},
			Process: &specs.Process{Args: []string{"sh", "-c", "cat /proc/1/environ >/dev/null && echo read"},
				Env: []string{"PATH=/bin"}, Cwd: "/", Capabilities: spec.Process.Capabilities}})
		if err != nil {
			t.Fatal(err)
		}
		waitExit(t, pid)
		b, _ := os.ReadFile(out)
		return string(b)
	}
	if out := probe(); strings.Contains(out, "read") {
		t.Fatalf("a process of the container read the init's /proc/1/environ before its execve: %q", out)
	}
	if _, err := io.WriteString(release, "go\n"); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	waitComm(t, c.Pid, "sleep")
	if out := probe(); out != "read\n" {
		t.Fatalf("after execve the same probe fails: %q", out)
	}
}
