package cgroups

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestBindSources(t *testing.T) {
	t.Parallel()
	hier := []Hierarchy{
		{Dir: "cpu,cpuacct", FSType: "cgroup", Opts: []string{"cpu", "cpuacct"}, Root: "/"},
		{Dir: "memory", FSType: "cgroup", Opts: []string{"memory"}, Root: "/"},
		{Dir: "systemd", FSType: "cgroup", Opts: []string{"xattr", "name=systemd"}, Root: "/"},
		{Dir: "unified", FSType: "cgroup2", Root: "/"},
		// Mounted from a sub-cgroup (a nested host): the path is below its root.
		{Dir: "pids", FSType: "cgroup", Opts: []string{"pids"}, Root: "/outer"},
		// Not showing the process's cgroup: left out.
		{Dir: "blkio", FSType: "cgroup", Opts: []string{"blkio"}, Root: "/elsewhere"},
	}
	proc := "7:blkio:/k/c1\n6:pids:/outer/k/c1\n4:memory:/k/c1\n3:cpu,cpuacct:/k/c1\n1:name=systemd:/\n0::/mon\n"
	tree := Tree{Root: "/r"}
	dirs, srcs := tree.BindSources(hier, proc)
	wantDirs := []string{"cpu,cpuacct", "memory", "systemd", "unified", "pids"}
	wantSrcs := []string{"/r/cpu,cpuacct/k/c1", "/r/memory/k/c1", "/r/systemd/", "/r/unified/mon", "/r/pids/k/c1"}
	if !reflect.DeepEqual(dirs, wantDirs) || !reflect.DeepEqual(srcs, wantSrcs) {
		t.Fatalf("BindSources = %q, %q; want %q, %q", dirs, srcs, wantDirs, wantSrcs)
	}
}

func TestParseHierarchies(t *testing.T) {
	t.Parallel()
	mi := `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /r rw,nosuid,nodev,noexec,relatime shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /r/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 33 0:30 / /r/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
38 33 0:33 /outer /r/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
39 33 0:34 / /r/memory/nested rw - cgroup cgroup rw,memory
`
	mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(mi), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := hierarchies(mounts, "/r")
	want := []Hierarchy{
		{Dir: "unified", FSType: "cgroup2", Root: "/"},
		{Dir: "systemd", FSType: "cgroup", Opts: []string{"xattr", "name=systemd"}, Root: "/"},
		{Dir: "cpu,cpuacct", FSType: "cgroup", Opts: []string{"cpu", "cpuacct"}, Root: "/outer"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("hierarchies = %+v\nwant %+v", got, want)
	}
}
