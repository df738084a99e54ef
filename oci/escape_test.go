package oci

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CVE-2019-5736: the process that sets the container up (visible to the
// container as /proc/1/exe while it waits to execve) must not be a way to
// write to the runtime binary on the host.
func TestEscapeRuntimeBinary(t *testing.T) {
	requireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	spec, rootfs := testSpec(t, "true")
	c := create(t, spec, rootfs) // the init waits, as pid 1, before execve
	// Even host root cannot open it for writing. While it runs the kernel
	// says ETXTBSY; what protects it after (and on kernels that stop
	// denying writes to running binaries) is the read-only mount it lives on.
	if f0, err := os.OpenFile("/proc/"+itoa(c.Pid)+"/exe", os.O_WRONLY, 0); err == nil {
		f0.Close()
		t.Fatal("the init's executable can be opened for writing")
	}
	exe, err := os.Open("/proc/" + itoa(c.Pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	err = unix.Fstatfs(int(exe.Fd()), &st)
	exe.Close()
	if err != nil || st.Flags&unix.ST_RDONLY == 0 {
		t.Fatalf("the init's executable is not on a read-only mount (statfs flags %#x, %v)", st.Flags, err)
	}
	// From inside, with every capability a container could get.
	f, err := os.Create(filepath.Join(tmpDir(t), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	caps := []string{"CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_SYS_ADMIN"}
	script := "echo pwned >> /proc/1/exe && echo WROTE; echo pwned > /proc/1/exe && echo WROTE; " +
		"mount -o remount,rw /proc/1/exe && echo REMOUNTED; true"
	pid, _, err := Exec(context.Background(), ExecOptions{Cgroups: hostTree, ContainerPid: c.Pid, Spec: spec, Stdio: Stdio{Stdout: f, Stderr: f},
		Process: &specs.Process{Args: []string{"sh", "-c", script},
			Env: []string{"PATH=/bin"}, Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}}})
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, pid)
	out, _ := os.ReadFile(f.Name())
	if strings.Contains(string(out), "WROTE") || strings.Contains(string(out), "REMOUNTED") {
		t.Fatalf("container wrote to /proc/1/exe: %s", out)
	}
	after, _ := os.ReadFile(self)
	if string(before) != string(after) {
		t.Fatal("the test binary changed on disk")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// CVE-2024-21626: no host fd reaches the container, and a cwd naming one
// through /proc/self/fd is refused.
func TestEscapeLeakedFd(t *testing.T) {
	requireRoot(t)
	// A host directory fd without O_CLOEXEC, as a careless monitor might leak.
	leak, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leak)
	spec, rootfs := testSpec(t, "sh", "-c", "ls /proc/self/fd; readlink /proc/self/cwd")
	spec.Process.Cwd = "/tmp"
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 || out != "0\n1\n2\n3\n/tmp\n" {
		t.Fatalf("status %v, output %q", ws, out)
	}
	for _, fd := range []string{"3", "4", "5", "6", "7", "8", "9", itoa(leak)} {
		spec, rootfs := testSpec(t, "true")
		spec.Process.Cwd = "/proc/self/fd/" + fd
		c, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), Spec: spec, Rootfs: rootfs})
		if err == nil {
			t.Cleanup(func() { _ = destroyCgroup(spec) })
			err = c.Start()
			if err == nil {
				waitExit(t, c.Pid)
				t.Fatalf("cwd %s accepted", spec.Process.Cwd)
			}
			waitExit(t, c.Pid)
		}
	}
}

// CVE-2021-30465 and friends: symlinks in the image never redirect a mount
// or a /proc write to the host.
func TestEscapeSymlinkMountTarget(t *testing.T) {
	requireRoot(t)
	hostDir := tmpDir(t)
	evil := tmpDir(t)
	if err := os.Symlink(hostDir, filepath.Join(evil, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../"+hostDir, filepath.Join(evil, "evil2")); err != nil {
		t.Fatal(err)
	}
	spec, rootfs := testSpec(t, "sh", "-c", "grep -c ' "+hostDir+"/x ' /proc/self/mountinfo; grep -c ' "+hostDir+"/y ' /proc/self/mountinfo; ls -d "+hostDir+"/x "+hostDir+"/y")
	rootfs[0].Options[0] = "lowerdir=" + evil + ":" + lowerDir
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/evil/x", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/evil2/y", Type: "bind", Source: tmpDir(t), Options: []string{"rbind"}})
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 || out != "1\n1\n"+hostDir+"/x\n"+hostDir+"/y\n" {
		t.Fatalf("status %v output %q", ws, out)
	}
	// The targets were made inside the rootfs (the upper layer), not on the host.
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Fatalf("host directory %s got %d entries", hostDir, len(ents))
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(spec.Root.Path), "upper", hostDir, "x")); err != nil {
		t.Fatalf("mount target not created in the rootfs: %v", err)
	}
}

// A /proc that is not procfs (here the image makes it a symlink to a
// directory) is detected before any sysctl or oom_score_adj is written.
func TestEscapeFakeProc(t *testing.T) {
	requireRoot(t)
	layer := tmpDir(t)
	if err := os.Mkdir(filepath.Join(layer, "fakeproc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/fakeproc", filepath.Join(layer, "proc")); err != nil {
		t.Fatal(err)
	}
	spec, rootfs := testSpec(t, "true")
	rootfs[0].Options[0] = "lowerdir=" + layer + ":" + lowerDir
	// Without a proc mount, /proc stays the image's symlink.
	spec.Mounts = spec.Mounts[1:]
	spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
	spec.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
	_, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), Spec: spec, Rootfs: rootfs})
	if err == nil || !strings.Contains(err.Error(), "container /proc") {
		t.Fatalf("create with a fake /proc: %v", err)
	}
}
