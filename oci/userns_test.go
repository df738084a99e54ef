package oci

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/oci/kernel"
)

func userNSSpec(t *testing.T, args ...string) (*specs.Spec, []specs.Mount) {
	requireUserNS(t)
	spec, rootfs := testSpec(t, args...)
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	return spec, rootfs
}

// requireUserNS skips where the kernel cannot give a container its own user
// namespace (no idmapped mounts or overlay on them: Debian 11's 5.10), where
// Create refuses one (TestUserNamespaceRefusedWithoutKernelSupport).
func requireUserNS(t *testing.T) {
	t.Helper()
	if k := HostKernel(true); k.IDMappedOverlay == kernel.IDMappedNone {
		t.Skipf("kernel %s: no user namespaces for containers (idmapped overlay: %s)", k.Release, k.IDMappedOverlay)
	}
}

// Without idmapped mounts a user-namespaced container is refused before its
// init starts, and leaves no cgroup.
func TestUserNamespaceRefusedWithoutKernelSupport(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "true")
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec.Linux.GIDMappings = spec.Linux.UIDMappings
	p, _ := cgPath(spec)
	// On v1 the cgroup is made in the background (cgroupMaking): a refusal waits for
	// it before destroying it, or it would be made after its destroy, as late as the
	// load makes the goroutine. Once the making is over, what is left stays.
	var making *cgroupMaking
	cgroupMakingStarted = func(path string, m *cgroupMaking) {
		if path == p {
			making = m
		}
	}
	defer func() { cgroupMakingStarted = nil }()
	_, err := Create(t.Context(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs, Kernel: kernel510()})
	if err == nil || !strings.Contains(err.Error(), "user namespaces are not supported") {
		t.Fatalf("create in a user namespace on 5.10: %v", err)
	}
	if d := hostTree.Dirs(p); len(d) != 0 {
		t.Errorf("cgroups left after the refusal: %v", d)
	}
	if making != nil {
		_, _ = making.wait()
	}
	if d := hostTree.Dirs(p); len(d) != 0 {
		t.Errorf("cgroups made after the refusal destroyed them: %v", d)
	}
}

// TestUserNamespace: the container runs in its own user namespace; the rootfs
// (owned by host root) and an idmapped bind appear owned by the container's
// root, and what the container writes lands owned by root on the host disk.
func TestUserNamespace(t *testing.T) {
	requireRoot(t)
	script := `cat /proc/self/uid_map; stat -c '%u:%g' /bin/busybox /etc/passwd /data/file /plain/file /own/file; echo x > /newfile; echo y > /data/new; stat -c '%u' /newfile; id -u; grep CapEff /proc/self/status; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max`
	spec, rootfs := userNSSpec(t, "sh", "-c", script)
	data := tmpDir(t)
	if err := os.WriteFile(filepath.Join(data, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	pids := int64(55)
	spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "idmap"}},
		specs.Mount{Destination: "/plain", Type: "bind", Source: data, Options: []string{"rbind", "ro"}},
		// Mappings of its own: host 0 shows as container uid 1000.
		specs.Mount{Destination: "/own", Type: "bind", Source: data, Options: []string{"rbind"},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 101000, Size: 1}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 101000, Size: 1}}})
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v: %s", ws, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"0 100000 65536", "0:0", "0:0", "0:0", "65534:65534", "1000:1000", "0", "0", "CapEff:\t00000000a80425fb", "55"}
	if len(lines) != len(want) {
		t.Fatalf("output %q", out)
	}
	for i := range want {
		if strings.Join(strings.Fields(lines[i]), " ") != strings.Join(strings.Fields(want[i]), " ") {
			t.Errorf("line %d: got %q, want %q", i, lines[i], want[i])
		}
	}
	// Through the idmapped bind the container's root writes as host root; in
	// the overlay's (not idmapped) upper layer as its mapped id, like
	// containers/storage.
	upper := filepath.Join(filepath.Dir(spec.Root.Path), "upper")
	for f, want := range map[string]uint32{filepath.Join(upper, "newfile"): 100000, filepath.Join(data, "new"): 0} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != want || st.Gid != want {
			t.Errorf("%s written by the container is owned by %d:%d on the host, want %d", f, st.Uid, st.Gid, want)
		}
	}
}

// TestUserNamespaceExec: exec joins the user namespace (and mount, pid ...) of
// a container that has one.
func TestUserNamespaceExec(t *testing.T) {
	requireRoot(t)
	spec, _ := userNSSpec(t, "sleep", "1000")
	// An already prepared root directory (no rootfs mounts), read-only.
	spec.Root.Path = lowerDir
	spec.Root.Readonly = true
	c := create(t, spec, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(tmpDir(t), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pid, _, err := Exec(context.Background(), ExecOptions{Cgroups: hostTree, ContainerPid: c.Pid, Spec: spec, Stdio: Stdio{Stdout: f, Stderr: f},
		Process: &specs.Process{Args: []string{"sh", "-c", "cat /proc/self/uid_map; stat -c %u /bin/busybox; id -u; touch /x 2>/dev/null || echo ro"}, Env: []string{"PATH=/bin"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ws := waitExit(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("exec status %v", ws)
	}
	b, _ := os.ReadFile(f.Name())
	if got := strings.Join(strings.Fields(string(b)), " "); got != "0 100000 65536 0 0 ro" {
		t.Fatalf("exec saw %q", b)
	}
}

// TestPodUserNamespace: the pod infra makes the user namespace; a container
// joins it (and the pod's pid, ipc, uts namespaces) by path, which goes
// through the nsenter constructor.
func TestPodUserNamespace(t *testing.T) {
	requireRoot(t)
	requireUserNS(t)
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	infra := &specs.Spec{Hostname: "userpod", Linux: &specs.Linux{
		CgroupsPath: cgParent + "/pod" + randID(),
		UIDMappings: maps, GIDMappings: maps,
		Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.IPCNamespace},
			{Type: specs.UTSNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}},
	}}
	pid, err := CreatePodInfra(context.Background(), infra, hostTree)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = destroyCgroup(infra) })
	spec, rootfs := testSpec(t, "sh", "-c", "cat /proc/self/uid_map; hostname; stat -c %u /bin/busybox; echo $$; cat /proc/1/cmdline")
	spec.Hostname = ""
	spec.Linux.UIDMappings, spec.Linux.GIDMappings = maps, maps
	spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace}}
	for _, n := range []struct {
		typ  specs.LinuxNamespaceType
		name string
	}{{specs.UserNamespace, "user"}, {specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"}, {specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "net"}} {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: n.typ, Path: "/proc/" + itoa(pid) + "/ns/" + n.name})
	}
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v: %s", ws, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "0 200000 65536" || lines[1] != "userpod" ||
		lines[2] != "0" || lines[3] == "1" || !strings.HasPrefix(lines[4], "crid-pause") {
		t.Fatalf("container in the user-namespaced pod saw %q", out)
	}
	_ = unix.Kill(pid, unix.SIGKILL)
	waitExit(t, pid)
}

// TestUserNamespaceCgroupV1: on a v1 host CRI gives a container no cgroup
// namespace, and the kernel lets only the cgroup namespace's owner (here the
// host's user namespace) mount cgroup v1. A container in a user namespace,
// new or joined from its pod, must still start and see its own cgroup of
// each hierarchy at /sys/fs/cgroup/<controller>, read-only.
func TestUserNamespaceCgroupV1(t *testing.T) {
	requireRoot(t)
	requireUserNS(t)
	if hostTree.Unified {
		t.Skip("cgroup v1 host only")
	}
	const limit = 64 << 20
	script := `cat /proc/self/uid_map; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max; ` +
		`test -d /sys/fs/cgroup/cpu && echo cpu; (echo 1 > /sys/fs/cgroup/pids/pids.max) 2>&1 | grep -o 'Read-only file system'`
	want := func(hostID string) string {
		return "0 " + hostID + " 65536\n" + itoa(limit) + "\n55\ncpu\nRead-only file system"
	}
	// CRI's default mounts on v1: the cgroup tree read-only, no cgroup namespace.
	v1Spec := func(hostID uint32) (*specs.Spec, []specs.Mount) {
		spec, rootfs := testSpec(t, "sh", "-c", script)
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
			return n.Type == specs.CgroupNamespace
		})
		maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
		spec.Linux.UIDMappings, spec.Linux.GIDMappings = maps, maps
		mem, pids := int64(limit), int64(55)
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids}}
		return spec, rootfs
	}
	check := func(t *testing.T, spec *specs.Spec, rootfs []specs.Mount, hostID string) {
		ws, out := run(t, spec, rootfs)
		if ws.ExitStatus() != 0 {
			t.Fatalf("status %v: %s", ws, out)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		if got := strings.Join(lines, "\n"); got != want(hostID) {
			t.Fatalf("container saw:\n%s\nwant:\n%s", got, want(hostID))
		}
	}
	t.Run("new", func(t *testing.T) {
		spec, rootfs := v1Spec(100000)
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		check(t, spec, rootfs, "100000")
	})
	t.Run("pod", func(t *testing.T) {
		spec, rootfs := v1Spec(200000)
		infra := &specs.Spec{Linux: &specs.Linux{
			CgroupsPath: cgParent + "/pod" + randID(),
			UIDMappings: spec.Linux.UIDMappings, GIDMappings: spec.Linux.GIDMappings,
			Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.PIDNamespace}},
		}}
		pid, err := CreatePodInfra(context.Background(), infra, hostTree)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = unix.Kill(pid, unix.SIGKILL)
			waitExit(t, pid)
			_ = destroyCgroup(infra)
		})
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
			return n.Type == specs.PIDNamespace
		})
		for _, n := range []struct {
			typ  specs.LinuxNamespaceType
			name string
		}{{specs.UserNamespace, "user"}, {specs.PIDNamespace, "pid"}} {
			spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: n.typ, Path: "/proc/" + itoa(pid) + "/ns/" + n.name})
		}
		check(t, spec, rootfs, "200000")
	})
}

// TestUserNamespaceRootOnSharedMount: a prepared root directory on a shared
// mount (a systemd host's / is one) becomes a user namespace's root: its
// idmapped clone must not stay a peer of the host's mount, or pivot_root
// refuses it (EINVAL; seen in the Debian 12 guest).
func TestUserNamespaceRootOnSharedMount(t *testing.T) {
	requireRoot(t)
	requireUserNS(t)
	dir := tmpDir(t)
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// dir: a shared mount; root: the image bound below it, shared with it.
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(lowerDir, root, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	spec, _ := userNSSpec(t, "sh", "-c", "stat -c %u /bin/busybox")
	spec.Root.Path = root
	spec.Root.Readonly = true
	if ws, out := run(t, spec, nil); ws.ExitStatus() != 0 || out != "0\n" {
		t.Fatalf("status %v output %q", ws, out)
	}
}

// TestUserNamespaceCgroupV2Bind: on cgroup v2 a container in a user namespace
// without a cgroup namespace of its own may not mount cgroup2 (the kernel
// lets only the cgroup namespace's owner), so it gets a read-only bind of its
// own cgroup directory, whose mount root is the path its /proc/self/cgroup
// names, as programs reading their limits expect. It runs on a v2 host (the
// VM tier) and on a hybrid host's unified mount.
func TestUserNamespaceCgroupV2Bind(t *testing.T) {
	requireRoot(t)
	requireUserNS(t)
	tree := hostTree
	if !tree.Unified {
		unified := "/sys/fs/cgroup/unified"
		var st unix.Statfs_t
		if err := unix.Statfs(unified, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skipf("no cgroup2 mount at %s (a pure v1 host)", unified)
		}
		tree = cgroups.Tree{Root: unified, Unified: true}
	}
	script := `grep '^0::' /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f4; ls /sys/fs/cgroup/cgroup.procs; touch /sys/fs/cgroup/x 2>/dev/null && echo writable; true`
	spec, rootfs := userNSSpec(t, "sh", "-c", script)
	spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
	p, err := cgPath(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tree.Destroy(p) })
	f, out := outFile(t)
	defer f.Close()
	c, err := Create(context.Background(), CreateOptions{Cgroups: tree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec,
		Rootfs: rootfs, Stdio: Stdio{Stdout: f, Stderr: f}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	if ws := waitExit(t, c.Pid); ws.ExitStatus() != 0 {
		b, _ := os.ReadFile(out)
		t.Fatalf("status %v: %s", ws, b)
	}
	b, _ := os.ReadFile(out)
	if got, want := string(b), "0::"+p+"\n"+p+"\n/sys/fs/cgroup/cgroup.procs\n"; got != want {
		t.Fatalf("container printed %q, want %q (its own cgroup, read-only)", got, want)
	}
}
