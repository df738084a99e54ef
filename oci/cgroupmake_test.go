package oci

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCgroupRefusedAfterStart: on v1 a container's or pod infra's cgroup is made
// while its process starts (cgroupMaking). When the kernel refuses the cgroup's
// resources (a CPU period below 1 ms), the call fails as before and leaves nothing:
// the started init or pause is gone and no directory of the cgroup is left. On v2
// the cgroup is refused before any process starts. Not parallel: the processes this
// test process is the parent of are looked for by name.
func TestCgroupRefusedAfterStart(t *testing.T) {
	requireRoot(t)
	period, quota := uint64(500), int64(1000)
	refused := func() *specs.LinuxResources {
		return &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: &period, Quota: &quota}}
	}
	t.Run("container", func(t *testing.T) {
		spec, rootfs := testSpec(t, "true")
		spec.Linux.Resources = refused()
		// The init holds the pipe as its stdout: EOF once every holder is gone.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = Create(context.Background(), CreateOptions{ID: "c" + randID(), Spec: spec, Rootfs: rootfs, Cgroups: hostTree, Stdio: Stdio{Stdout: w}})
		w.Close()
		if !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("Create with a CPU period of 500us: %v, want ErrInvalidSpec", err)
		}
		if err := r.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("the init's stdout: read %d, %v; want EOF (the init is left)", n, err)
		}
		checkNoCgroup(t, spec)
	})
	t.Run("infra", func(t *testing.T) {
		infra := &specs.Spec{Hostname: "pod", Linux: &specs.Linux{
			CgroupsPath: cgParent + "/pod" + randID(), Resources: refused(),
			Namespaces: []specs.LinuxNamespace{{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.PIDNamespace}},
		}}
		if _, err := CreatePodInfra(context.Background(), infra, hostTree); err == nil {
			t.Fatal("CreatePodInfra with a CPU period of 500us: no error")
		}
		// A pause is never ended by anything else: one left runs for ever (waitExit
		// fails after its deadline).
		for _, pid := range childrenNamed(t, "crid-pause") {
			waitExit(t, pid)
		}
		checkNoCgroup(t, infra)
	})
}

// childrenNamed lists this process's children whose argv[0] is name.
func childrenNamed(t *testing.T, name string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err1 := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		cmdline, err2 := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err1 != nil || err2 != nil {
			continue // gone meanwhile
		}
		// Fields after comm: state ppid ...
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == self && strings.SplitN(string(cmdline), "\x00", 2)[0] == name {
			pids = append(pids, pid)
		}
	}
	return pids
}

// checkNoCgroup fails if a directory of the spec's cgroup is left.
func checkNoCgroup(t *testing.T, spec *specs.Spec) {
	t.Helper()
	dirs := []string{filepath.Join(hostTree.Root, spec.Linux.CgroupsPath)}
	if !hostTree.Unified {
		dirs = nil
		for _, h := range []string{"cpu", "memory", "pids", "devices", "freezer"} {
			dirs = append(dirs, filepath.Join(hostTree.Root, h, spec.Linux.CgroupsPath))
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup dir %s left (%v)", d, err)
		}
	}
}
