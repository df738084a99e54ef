package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// mountLine returns the options and optional fields (propagation) of the
// mount at mp in a mountinfo text (the top one of a stack).
func mountLine(t *testing.T, mi, mp string) (opts, optional string, ok bool) {
	t.Helper()
	mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(mi), func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != mp, false
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) == 0 {
		return "", "", false
	}
	top := mounts[len(mounts)-1]
	return top.Options, top.Optional, true
}

func TestMountPropagationAndReadOnly(t *testing.T) {
	requireRoot(t)
	for name, k := range hostAnd510 {
		t.Run(name, func(t *testing.T) { mountPropagationAndReadOnly(t, k) })
	}
}

// On 5.10 (no mount_setattr) every flag and propagation comes out the same,
// but nothing makes a tree read-only recursively: "rro" there is tested in
// TestRecursiveReadOnlyRefusedOn510.
func mountPropagationAndReadOnly(t *testing.T, k *kernel.Features) {
	spec, rootfs := testSpec(t, "cat", "/proc/self/mountinfo")
	spec.Linux.RootfsPropagation = "rshared"
	// A shared host mount of our own (this host's "/" is private), removed at the end.
	src := tmpDir(t)
	if err := unix.Mount("tmpfs", src, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(src, unix.MNT_DETACH) })
	if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	// The host peer group of the mount holding src: the container's shared
	// bind must join it (Bidirectional), the slave one be its slave.
	hostPeer := ""
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		mp, _ := mountPointOf(src)
		_, optional, _ := mountLine(t, string(b), mp)
		for _, f := range strings.Fields(optional) {
			if strings.HasPrefix(f, "shared:") {
				hostPeer = f
			}
		}
	}
	if hostPeer == "" {
		t.Skipf("the mount holding %s is not shared on this host", src)
	}
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/m-shared", Type: "bind", Source: src, Options: []string{"rbind", "rshared"}},
		specs.Mount{Destination: "/m-slave", Type: "bind", Source: src, Options: []string{"rbind", "rslave"}},
		specs.Mount{Destination: "/m-private", Type: "bind", Source: src, Options: []string{"rbind", "rprivate", "ro", "nosuid", "noexec", "nodev"}},
		// /sys/fs/cgroup has submounts on the host: ro covers the top only, rro all.
		specs.Mount{Destination: "/m-ro", Type: "bind", Source: "/sys/fs/cgroup", Options: []string{"rbind", "ro"}},
		// A plain bind (no submounts) takes "rro" everywhere: it is its top mount's.
		specs.Mount{Destination: "/m-bind-rro", Type: "bind", Source: src, Options: []string{"bind", "rro", "noatime"}},
	)
	if k == nil {
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/m-rro", Type: "bind", Source: "/sys/fs/cgroup", Options: []string{"rbind", "rro"}})
	}
	ws, mi := runOn(t, spec, rootfs, k)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v: %s", ws, mi)
	}
	for _, c := range []struct {
		mp, opts, prop string
	}{
		{"/m-shared", "rw,", hostPeer},
		{"/m-slave", "rw,", strings.Replace(hostPeer, "shared", "master", 1)},
		{"/m-private", "ro,nosuid,nodev,noexec", ""},
		{"/m-ro", "ro", ""},
		{"/m-ro/memory", "rw", ""},
		{"/m-bind-rro", "ro,noatime", ""},
		{"/m-rro", "ro", ""},
		{"/m-rro/memory", "ro", ""},
	} {
		if hostTree.Unified && strings.HasSuffix(c.mp, "/memory") {
			continue // /sys/fs/cgroup has no submounts on a unified host
		}
		if k != nil && strings.HasPrefix(c.mp, "/m-rro") {
			continue
		}
		opts, optional, ok := mountLine(t, mi, c.mp)
		if !ok {
			t.Errorf("%s not mounted:\n%s", c.mp, mi)
			continue
		}
		if !strings.HasPrefix(opts, c.opts) {
			t.Errorf("%s options %q, want prefix %q", c.mp, opts, c.opts)
		}
		if c.prop == "" && (strings.Contains(optional, "shared:") || strings.Contains(optional, "master:")) && c.mp == "/m-private" {
			t.Errorf("%s propagation %q, want private", c.mp, optional)
		}
		if c.prop != "" && !strings.Contains(optional, c.prop) {
			t.Errorf("%s propagation %q, want %s", c.mp, optional, c.prop)
		}
	}
}

// Without mount_setattr a recursive attribute on a tree holding other mounts
// is refused (the remount fallback reaches one mount), and nothing is left.
func TestRecursiveReadOnlyRefusedOn510(t *testing.T) {
	requireRoot(t)
	src := tmpDir(t)
	if err := unix.Mount("tmpfs", src, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(src, unix.MNT_DETACH) })
	spec, rootfs := testSpec(t, "true")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/m-rro", Type: "bind", Source: filepath.Dir(src), Options: []string{"rbind", "rro"}})
	_, err := Create(t.Context(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs, Kernel: kernel510()})
	if err == nil || !strings.Contains(err.Error(), "need mount_setattr") {
		t.Fatalf("create with rro on 5.10: %v", err)
	}
	p, _ := cgPath(spec)
	if d := hostTree.Dirs(p); len(d) != 0 {
		t.Errorf("cgroups left after the refusal: %v", d)
	}
}

func TestDevicesAndSysctls(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sh", "-c", "stat -c '%t:%T %a %u:%g' /dev/mydev /dev/sub/dir/dev2; cat /proc/sys/kernel/msgmax; echo x > /dev/mydev && echo written")
	mode := fileMode(0o600)
	spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/mydev", Type: "c", Major: 1, Minor: 3, FileMode: mode, UID: u32(1234), GID: u32(55)},
		{Path: "/dev/sub/dir/dev2", Type: "c", Major: 1, Minor: 5, FileMode: fileMode(0o640)},
	}
	spec.Linux.Sysctl = map[string]string{"kernel.msgmax": "4242"}
	// Below ours: without CAP_SYS_RESOURCE the kernel refuses it; the
	// container keeps our value instead of failing (or gets it if we may).
	low := -999
	spec.Process.OOMScoreAdj = &low
	spec.Process.Args[2] += "; cat /proc/self/oom_score_adj"
	mine, _ := os.ReadFile("/proc/self/oom_score_adj")
	ws, out := run(t, spec, rootfs)
	want := "1:3 600 1234:55\n1:5 640 0:0\n4242\nwritten\n"
	if hasCap(unix.CAP_SYS_RESOURCE) {
		want += "-999\n"
	} else {
		want += string(mine) // clamped
	}
	if ws.ExitStatus() != 0 || out != want {
		t.Fatalf("status %v output %q", ws, out)
	}
}

// A container killed at any point leaves nothing Destroy cannot clean: here
// before Start, and a Create cancelled through its context.
func TestKilledAndCancelled(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "true")
	c := create(t, spec, rootfs)
	if err := unix.Kill(c.Pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, c.Pid)
	if err := c.Start(); err == nil {
		t.Fatal("start of a killed container succeeded")
	}
	if err := destroyCgroup(spec); err != nil {
		t.Fatal(err)
	}
	if d := hostTree.Dirs(c.Cgroup); len(d) != 0 {
		t.Fatalf("cgroups left: %v", d)
	}

	spec, rootfs = testSpec(t, "true")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Create(ctx, CreateOptions{Cgroups: hostTree, ID: "t" + randID(), Spec: spec, Rootfs: rootfs}); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a cancelled context: %v, want context.Canceled", err)
	}
	p, _ := cgPath(spec)
	if d := hostTree.Dirs(p); len(d) != 0 {
		t.Fatalf("cgroups left after a failed create: %v", d)
	}
}

// A setup error comes back with context and leaves nothing behind.
func TestCreateErrors(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "true")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/x", Type: "nosuchfs", Source: "none"})
	_, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), Spec: spec, Rootfs: rootfs})
	if err == nil || !strings.Contains(err.Error(), "mount /x") {
		t.Fatalf("create with a bad mount: %v", err)
	}
	p, _ := cgPath(spec)
	if d := hostTree.Dirs(p); len(d) != 0 {
		t.Fatalf("cgroups left after a failed create: %v", d)
	}
	spec, rootfs = testSpec(t, "no-such-program")
	c := create(t, spec, rootfs)
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("start of a missing program: %v", err)
	}
	if ws := waitExit(t, c.Pid); ws.ExitStatus() == 0 {
		t.Fatalf("init exit %v", ws)
	}
}

// hasCap tells whether this test process has a capability in its effective set.
func hasCap(c int) bool {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:\t"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<uint(c)) != 0
		}
	}
	return false
}
