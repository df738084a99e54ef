package oci

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// fdsOf lists the open fds of pid ("3" -> what it names).
func fdsOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	dir := "/proc/" + itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		out[e.Name()], _ = os.Readlink(filepath.Join(dir, e.Name()))
	}
	return out
}

func fdList(fds map[string]string) string {
	var l []string
	for k, v := range fds {
		l = append(l, k+" -> "+v)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

// waitComm waits until pid runs a program named comm (it execve()d).
func waitComm(t *testing.T, pid int, comm string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + itoa(pid) + "/comm"); strings.TrimSpace(string(b)) == comm {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never ran %s", pid, comm)
		}
	}
}

// waitAsleep waits until pid sleeps in the sleep program: its comm changes at execve, but
// then the dynamic loader opens the program's libraries (an fd each, for a moment), so
// only the sleep syscall says the program's own code runs.
func waitAsleep(t *testing.T, pid int) {
	t.Helper()
	waitComm(t, pid, "sleep")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// The number of the syscall the process is blocked in, or "running".
		b, _ := os.ReadFile("/proc/" + itoa(pid) + "/syscall")
		if f := strings.Fields(string(b)); len(f) > 0 && (f[0] == itoa(unix.SYS_NANOSLEEP) || f[0] == itoa(unix.SYS_CLOCK_NANOSLEEP)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never slept: /proc/%d/syscall %q", pid, pid, b)
		}
	}
}

// stdioOnly fails unless fds are 0, 1 and 2, plus, while the init waits for
// Start, the sync socket and the Go runtime's anonymous inodes (epoll,
// eventfd: they name no file and /proc cannot reopen them).
func stdioOnly(t *testing.T, who string, fds map[string]string, waiting bool) {
	t.Helper()
	for fd, name := range fds {
		if fd == "0" || fd == "1" || fd == "2" {
			continue
		}
		if waiting && (fd == itoa(syncFd) && strings.HasPrefix(name, "socket:") || strings.HasPrefix(name, "anon_inode:")) {
			continue
		}
		t.Errorf("%s holds fd %s -> %s (all: %s)", who, fd, name, fdList(fds))
	}
}

// No fd but stdio reaches a container: not while its init waits for Start (a
// process of the pod sharing its PID namespace could follow /proc/<pid>/fd to
// the host's rootfs directory), not once pid 1 or an exec'd process runs the
// container's program. With and without a user namespace, and as on 5.10
// (no close_range CLOEXEC: the exec child's sync socket and pidfd are marked
// one by one).
func TestOnlyStdioReachesTheContainer(t *testing.T) {
	requireRoot(t)
	plain := func(t *testing.T, args ...string) (*specs.Spec, []specs.Mount) { return testSpec(t, args...) }
	for _, c := range []struct {
		name   string
		spec   func(t *testing.T, args ...string) (*specs.Spec, []specs.Mount)
		kernel *kernel.Features
	}{
		{"plain", plain, nil},
		{"user namespace", userNSSpec, nil},
		{"plain, Linux 5.10", plain, kernel510()},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec, rootfs := c.spec(t, "sleep", "1000")
			ctr := createOn(t, spec, rootfs, c.kernel)
			stdioOnly(t, "the waiting init", fdsOf(t, ctr.Pid), true)
			if err := ctr.Start(); err != nil {
				t.Fatal(err)
			}
			waitAsleep(t, ctr.Pid)
			stdioOnly(t, "pid 1", fdsOf(t, ctr.Pid), false)
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer null.Close()
			pid, _, err := Exec(context.Background(), ExecOptions{Cgroups: hostTree, ContainerPid: ctr.Pid, Spec: spec, Kernel: c.kernel,
				Stdio:   Stdio{Stdin: null, Stdout: null, Stderr: null},
				Process: &specs.Process{Args: []string{"sleep", "999"}, Env: []string{"PATH=/bin"}, Cwd: "/"}})
			if err != nil {
				t.Fatal(err)
			}
			waitAsleep(t, pid)
			stdioOnly(t, "an exec'd process", fdsOf(t, pid), false)
			_ = unix.Kill(pid, unix.SIGKILL)
			waitExit(t, pid)
		})
	}
}
