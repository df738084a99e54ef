package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWorkingSetAndLimits(t *testing.T) {
	t.Parallel()
	if workingSet(100, 30) != 70 || workingSet(10, 30) != 0 {
		t.Fatal("workingSet")
	}
	if unlimited(1<<63) != 0 || unlimited(9223372036854771712) != 0 || unlimited(42) != 42 {
		t.Fatal("unlimited")
	}
}

// fakeUnified makes a fake unified tree with the directories dirs (relative
// to the root), each with every controller, and, in leaf, the interface files
// the kernel would make (the library opens them without O_CREAT).
func fakeUnified(t *testing.T, dirs []string, leaf string, files ...string) Tree {
	t.Helper()
	root := t.TempDir()
	for _, d := range append([]string{""}, dirs...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "cgroup.subtree_control"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, leaf), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, leaf, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Tree{Root: root, Unified: true}
}

// TestV2Files drives the v2 code paths against a fake unified tree: which
// files get which values, and where OOM kills are read.
func TestV2Files(t *testing.T) {
	t.Parallel()
	const leaf = "kubepods.slice/kubepods-pod1.slice/crid-abc.scope"
	tree := fakeUnified(t, []string{"kubepods.slice", "kubepods.slice/kubepods-pod1.slice"}, leaf,
		"memory.high", "memory.max", "memory.swap.max", "pids.max", "cpu.max", "cpu.weight", "cpuset.cpus", "cpuset.mems")
	mem, swap, pids, quota, period, shares := int64(64<<20), int64(128<<20), int64(42), int64(50000), uint64(100000), uint64(512)
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &mem, Swap: &swap},
		Pids:    &specs.LinuxPids{Limit: &pids},
		CPU:     &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares, Cpus: "0"},
		Unified: map[string]string{"memory.high": "50000000"},
	}
	path, err := ParsePath("kubepods-pod1.slice:crid:abc")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tree.New(path, r)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != "/"+leaf {
		t.Fatalf("path %s", c.Path())
	}
	dir := filepath.Join(tree.Root, leaf)
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
	if b, _ := os.ReadFile(filepath.Join(tree.Root, "kubepods.slice", "cgroup.subtree_control")); !strings.Contains(string(b), "+memory") {
		t.Errorf("controllers not enabled for children: %q", b)
	}
	loaded, err := tree.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	newMem := int64(96 << 20)
	if err := loaded.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &newMem}}); err != nil {
		t.Fatal(err)
	}
	if got := read("memory.max"); got != "100663296" {
		t.Errorf("after update memory.max = %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 3\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := tree.OOMKills(path); err != nil || n != 1 {
		t.Fatalf("OOMKills = %v, %v", n, err)
	}
	if fd, err := c.OpenDir(); err != nil || fd == nil {
		t.Fatalf("v2 cgroup dir fd for CLONE_INTO_CGROUP: %v", err)
	} else {
		fd.Close()
	}
	if d := tree.Dirs(path); len(d) != 1 || d[0] != dir {
		t.Fatalf("Dirs = %v", d)
	}
}

// TestUnifiedKeysRefused: a unified key naming a file outside the cgroup, or
// one of its cgroup.* control files, is refused before anything is written.
func TestUnifiedKeysRefused(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, nil, "c", "memory.high")
	for _, k := range []string{"../c/memory.high", "cgroup.procs", "..", ""} {
		t.Run(k, func(t *testing.T) {
			if err := tree.writeUnified("/c", map[string]string{k: "1"}); err == nil {
				t.Fatalf("key %q accepted", k)
			}
		})
	}
}

// The device rules crid's specs carry (a deny-all without type or numbers, a
// char rule with a wildcard minor) compile into the v2 eBPF device filter.
func TestV2DeviceRulesCompile(t *testing.T) {
	t.Parallel()
	one := int64(1)
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &one, Access: "rwm"},
	}}
	if _, _, err := cgroup2.DeviceFilter(v2Resources(r).Devices); err != nil {
		t.Fatalf("device filter: %v", err)
	}
	if r.Devices[0].Type != "" || r.Devices[1].Minor != nil {
		t.Error("the caller's rules were changed")
	}
}
