package kernel

import (
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/internal/testenv"
)

// catUserNS holds a user namespace with a cat that waits on its stdin.
func catUserNS(testing.TB) func() (int, func(), error) {
	return func() (int, func(), error) {
		cmd := exec.Command("cat")
		in, err := cmd.StdinPipe()
		if err != nil {
			return -1, nil, err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		}
		if err := cmd.Start(); err != nil {
			return -1, nil, err
		}
		release := func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }
		fd, err := unix.Open("/proc/"+itoa(cmd.Process.Pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			release()
			return -1, nil, err
		}
		return fd, func() { unix.Close(fd); release() }, nil
	}
}

// TestProbeHost runs every probe on this kernel and prints what it found;
// on the project's 6.18 kernel everything is there.
func TestProbeHost(t *testing.T) {
	if !testenv.Privileged() {
		t.Skip("needs root")
	}
	r := Run(Options{Dir: t.TempDir(), UserNS: catUserNS(t)})
	for _, p := range AllProbes {
		t.Logf("%-36s %v", p, r.Errs[p])
	}
	f := Decide(r)
	t.Log(f)
	if err := f.Usable(); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// BenchmarkProbe: what one executor process pays once for its probe, with
// and without the user namespace probes.
func BenchmarkProbe(b *testing.B) {
	if !testenv.Privileged() {
		b.Skip("needs root")
	}
	b.Run("basic", func(b *testing.B) {
		for b.Loop() {
			Run(Options{Dir: b.TempDir()})
		}
	})
	b.Run("with-userns", func(b *testing.B) {
		for b.Loop() {
			Run(Options{Dir: b.TempDir(), UserNS: catUserNS(nil)})
		}
	})
}
