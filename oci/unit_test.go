package oci

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Pure logic: no root needed.

func TestCgroupPath(t *testing.T) {
	for in, want := range map[string]string{
		"/kubepods/pod123/abc": "/kubepods/pod123/abc",
		"kubepods/pod123/abc":  "/kubepods/pod123/abc",
		"/a/../b":              "/b",
		"kubepods-besteffort-pod12.slice:cri-containerd:abc": "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope",
		"system.slice:crid:x":                                "/system.slice/crid-x.scope",
		":crid:x":                                            "/system.slice/crid-x.scope",
		"kubepods.slice:crid:pod-1.slice":                    "/kubepods.slice/pod-1.slice",
	} {
		got, err := cgroupPath(&specs.Spec{Linux: &specs.Linux{CgroupsPath: in}})
		if err != nil || got != want {
			t.Errorf("cgroupPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/", "/.."} {
		if _, err := cgroupPath(&specs.Spec{Linux: &specs.Linux{CgroupsPath: bad}}); err == nil {
			t.Errorf("cgroupPath(%q) accepted", bad)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	o := parseMountOptions([]string{"rbind", "ro", "nosuid", "rro", "rslave", "size=10m", "mode=755", "noatime"})
	want := mountOpts{bind: true, recursive: true,
		attrSet:  unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOATIME,
		rattrSet: unix.MOUNT_ATTR_RDONLY, propagation: unix.MS_SLAVE, recPropagation: true,
		data: []string{"size=10m", "mode=755"}, flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NOATIME}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
	for _, c := range []struct {
		name string
		opts []string
		want mountOpts
	}{
		{"private", []string{"private"}, mountOpts{propagation: unix.MS_PRIVATE}},
		{"last propagation wins", []string{"rshared", "runbindable"}, mountOpts{propagation: unix.MS_UNBINDABLE, recPropagation: true}},
		{"rw clears", []string{"rw", "nodev"}, mountOpts{attrClr: unix.MOUNT_ATTR_RDONLY, attrSet: unix.MOUNT_ATTR_NODEV, flags: unix.MS_NODEV}},
		{"bind after rbind stays recursive", []string{"rbind", "bind"}, mountOpts{bind: true, recursive: true}},
		{"defaults and idmap mean nothing here", []string{"defaults", "relatime", "idmap"}, mountOpts{}},
		{"unknown is filesystem data", []string{"lowerdir=/a:/b", "xino=off"}, mountOpts{data: []string{"lowerdir=/a:/b", "xino=off"}}},
		{"recursive attributes", []string{"rro", "rnosuid", "rnodev", "rnoexec"},
			mountOpts{rattrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := parseMountOptions(c.opts); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	if !isBindMount(specs.Mount{Type: "bind"}) || isBindMount(specs.Mount{Type: "tmpfs"}) {
		t.Fatal("isBindMount")
	}
}

func TestRootPropagation(t *testing.T) {
	for in, want := range map[string]struct {
		before uintptr
		after  string
	}{
		"":        {unix.MS_REC | unix.MS_PRIVATE, ""},
		"rslave":  {unix.MS_REC | unix.MS_SLAVE, "rslave"},
		"rshared": {0, "rshared"}, // stays peers with the host
	} {
		b, a, err := rootPropagation(in)
		if err != nil || b != want.before || a != want.after {
			t.Errorf("rootPropagation(%q) = %x %q %v", in, b, a, err)
		}
	}
	if _, _, err := rootPropagation("bogus"); err == nil {
		t.Error("bogus propagation accepted")
	}
}

func TestCapMask(t *testing.T) {
	m, err := capMask([]string{"CAP_CHOWN", "cap_kill", "CAP_CHECKPOINT_RESTORE"}, 39)
	if err != nil || m != 1<<0|1<<5 {
		t.Fatalf("capMask = %x, %v", m, err)
	}
	if _, err := capMask([]string{"CAP_NOPE"}, 40); err == nil {
		t.Fatal("unknown capability accepted")
	}
}

func TestPlanNamespaces(t *testing.T) {
	p, err := planNamespaces(&specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/run/netns/x"},
		{Type: specs.UserNamespace, Path: "/proc/1/ns/user"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.newMask != unix.CLONE_NEWNS|unix.CLONE_NEWPID || !p.joins(unix.CLONE_NEWUSER) || p.joinEnv() != "net:/run/netns/x,user:/proc/1/ns/user" {
		t.Fatalf("plan %+v env %q", p, p.joinEnv())
	}
	if _, err := planNamespaces(&specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "time"}, {Type: "time"}}}}); err == nil {
		t.Fatal("bad namespaces accepted")
	}
}

func TestCommonDir(t *testing.T) {
	for _, c := range [][3]string{
		{"/a/b/upper", "/a/b/work", "/a/b"},
		{"/a/b/c/upper", "/a/d/work", "/a"},
		{"/x/upper", "/y/work", "/"},
	} {
		if got := commonDir(c[0], c[1]); got != c[2] {
			t.Errorf("commonDir(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestWorkingSetAndLimits(t *testing.T) {
	if workingSet(100, 30) != 70 || workingSet(10, 30) != 0 {
		t.Fatal("workingSet")
	}
	if unlimited(1<<63) != 0 || unlimited(9223372036854771712) != 0 || unlimited(42) != 42 {
		t.Fatal("unlimited")
	}
}

// TestCgroupV2Files drives the v2 code paths against a fake unified tree:
// which files get which values, and where OOM kills are read.
func TestCgroupV2Files(t *testing.T) {
	root := t.TempDir()
	oldRoot, oldV2 := cgroupRoot, cgroupV2
	cgroupRoot, cgroupV2 = root, func() bool { return true }
	t.Cleanup(func() { cgroupRoot, cgroupV2 = oldRoot, oldV2 })
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The kernel's files the library opens without O_CREAT.
	for _, d := range []string{"", "kubepods.slice", "kubepods.slice/kubepods-pod1.slice"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "cgroup.subtree_control"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mem, swap, pids, quota, period, shares := int64(64<<20), int64(128<<20), int64(42), int64(50000), uint64(100000), uint64(512)
	spec := &specs.Spec{Linux: &specs.Linux{CgroupsPath: "kubepods-pod1.slice:crid:abc", Resources: &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &mem, Swap: &swap},
		Pids:    &specs.LinuxPids{Limit: &pids},
		CPU:     &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares, Cpus: "0"},
		Unified: map[string]string{"memory.high": "50000000"},
	}}}
	// The kernel makes the interface files; the library writes without O_CREAT.
	scope := filepath.Join(root, "kubepods.slice/kubepods-pod1.slice/crid-abc.scope")
	if err := os.MkdirAll(scope, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"memory.high", "memory.max", "memory.swap.max", "pids.max", "cpu.max", "cpu.weight", "cpuset.cpus", "cpuset.mems"} {
		if err := os.WriteFile(filepath.Join(scope, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := newCgroup(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "kubepods.slice/kubepods-pod1.slice/crid-abc.scope")
	if h.path != "/kubepods.slice/kubepods-pod1.slice/crid-abc.scope" {
		t.Fatalf("path %s", h.path)
	}
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for f, want := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "67108864", "pids.max": "42",
		"cpu.max": "50000 100000", "cpu.weight": "59", // the library's shares->weight formula
		"cpuset.cpus": "0", "memory.high": "50000000",
	} {
		if got := read(f); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "kubepods.slice", "cgroup.subtree_control")); !strings.Contains(string(b), "+memory") {
		t.Errorf("controllers not enabled for children: %q", b)
	}
	newMem := int64(96 << 20)
	if err := UpdateResources(spec, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &newMem}}); err != nil {
		t.Fatal(err)
	}
	if got := read("memory.max"); got != "100663296" {
		t.Errorf("after update memory.max = %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 3\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if oom, err := OOMKilled(spec); err != nil || !oom {
		t.Fatalf("OOMKilled = %v, %v", oom, err)
	}
	if fd, err := h.dirFd(); err != nil || fd == nil {
		t.Fatalf("v2 cgroup dir fd for CLONE_INTO_CGROUP: %v", err)
	} else {
		fd.Close()
	}
	if d := cgroupDirs(h.path); len(d) != 1 || d[0] != dir {
		t.Fatalf("cgroupDirs = %v", d)
	}
}

func TestPlanDev(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fileMode(0o600)}, // overrides the default
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
	}}}
	p := planDev(spec, true, map[string]bool{"/dev/shm": true}, false)
	if len(p.mounts) != 1 || p.mounts[0].Destination != "/dev/pts" || strings.Contains(strings.Join(p.mounts[0].Options, ","), "gid=5") {
		t.Fatalf("mounts %+v", p.mounts)
	}
	var paths []string
	for _, d := range p.devices {
		paths = append(paths, d.Path)
	}
	want := []string{"/dev/null", "/dev/fuse", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
	if !reflect.DeepEqual(paths, want) || *p.devices[0].FileMode != 0o600 {
		t.Fatalf("devices %v", paths)
	}
	if len(p.links) != 5 || p.links[4] != [2]string{"pts/ptmx", "ptmx"} {
		t.Fatalf("links %v", p.links)
	}
	if p := planDev(spec, false, map[string]bool{}, true); len(p.mounts) != 2 || len(p.links) != 6 {
		t.Fatalf("plan without spec mounts: %+v", p)
	}
}

func TestV1BindSources(t *testing.T) {
	hier := []v1Hierarchy{
		{dir: "cpu,cpuacct", fstype: "cgroup", opts: []string{"cpu", "cpuacct"}, root: "/"},
		{dir: "memory", fstype: "cgroup", opts: []string{"memory"}, root: "/"},
		{dir: "systemd", fstype: "cgroup", opts: []string{"xattr", "name=systemd"}, root: "/"},
		{dir: "unified", fstype: "cgroup2", root: "/"},
		// Mounted from a sub-cgroup (a nested host): the path is below its root.
		{dir: "pids", fstype: "cgroup", opts: []string{"pids"}, root: "/outer"},
		// Not showing the process's cgroup: left out.
		{dir: "blkio", fstype: "cgroup", opts: []string{"blkio"}, root: "/elsewhere"},
	}
	proc := "7:blkio:/k/c1\n6:pids:/outer/k/c1\n4:memory:/k/c1\n3:cpu,cpuacct:/k/c1\n1:name=systemd:/\n0::/mon\n"
	dirs, srcs := v1BindSources(hier, proc)
	wantDirs := []string{"cpu,cpuacct", "memory", "systemd", "unified", "pids"}
	wantSrcs := []string{cgroupRoot + "/cpu,cpuacct/k/c1", cgroupRoot + "/memory/k/c1", cgroupRoot + "/systemd/",
		cgroupRoot + "/unified/mon", cgroupRoot + "/pids/k/c1"}
	if !reflect.DeepEqual(dirs, wantDirs) || !reflect.DeepEqual(srcs, wantSrcs) {
		t.Fatalf("v1BindSources = %q, %q; want %q, %q", dirs, srcs, wantDirs, wantSrcs)
	}
}
