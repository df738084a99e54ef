package oci

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// reportQuantiles adds the median and p95 of the per-container durations.
func reportQuantiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "median-ns")
	b.ReportMetric(float64(d[(len(d)*95)/100].Nanoseconds()), "p95-ns")
}

// BenchmarkCreateStartTrue: Create + Start of a busybox `true` container
// (overlay rootfs, new pid/ipc/uts/mnt/net/cgroup namespaces, the usual CRI
// mounts, masked paths, a cgroup) until its exit is reaped. Teardown (Destroy)
// is not timed.
func BenchmarkCreateStartTrue(b *testing.B) {
	requireRoot(b)
	var d []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		spec, rootfs := testSpec(b, "/bin/true")
		b.StartTimer()
		d = append(d, createStartWait(b, spec, rootfs))
	}
	reportQuantiles(b, d)
}

// BenchmarkCompare runs the same bundle (config.json + a plain directory
// rootfs, read-only) through crid's executor and, when installed, Debian's
// runc and crun (`<runtime> run`), as references only.
func BenchmarkCompare(b *testing.B) {
	requireRoot(b)
	bundleSpec := func(b *testing.B) (*specs.Spec, string) {
		spec, _ := testSpec(b, "/bin/true")
		spec.Root.Path = lowerDir
		spec.Version = "1.0.2" // crun 1.8 (Debian 12) refuses newer versions
		spec.Root.Readonly = true
		dir := tmpDir(b)
		j, err := json.Marshal(spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), j, 0o644); err != nil {
			b.Fatal(err)
		}
		return spec, dir
	}
	b.Run("crid", func(b *testing.B) {
		var d []time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			spec, _ := bundleSpec(b)
			b.StartTimer()
			t0 := time.Now()
			c, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "b" + randID(), Spec: spec})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(); err != nil {
				b.Fatal(err)
			}
			if ws := waitExit(b, c.Pid); ws.ExitStatus() != 0 {
				b.Fatalf("exit %v", ws)
			}
			d = append(d, time.Since(t0))
			b.StopTimer()
			_ = destroyCgroup(spec)
			b.StartTimer()
		}
		reportQuantiles(b, d)
	})
	for _, rt := range []string{"runc", "crun"} {
		b.Run(rt, func(b *testing.B) {
			bin, err := exec.LookPath(rt)
			if err != nil {
				b.Skipf("%s not installed (reference only: apt-get install %s)", rt, rt)
			}
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer null.Close()
			errf, err := os.Create(filepath.Join(tmpDir(b), "stderr"))
			if err != nil {
				b.Fatal(err)
			}
			defer errf.Close()
			root := tmpDir(b) // the runtime's state, away from the host's
			var d []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				spec, dir := bundleSpec(b)
				id := "b" + randID()
				b.StartTimer()
				t0 := time.Now()
				// Started and reaped like crid's containers: through the test's reaper.
				p, err := os.StartProcess(bin, []string{rt, "--root", root, "run", "--bundle", dir, id},
					&os.ProcAttr{Files: []*os.File{null, null, errf}})
				if err != nil {
					b.Fatal(err)
				}
				pid := p.Pid
				_ = p.Release()
				if ws := waitExit(b, pid); ws.ExitStatus() != 0 {
					msg, _ := os.ReadFile(errf.Name())
					if strings.Contains(string(msg), "hybrid mode not supported") {
						// Debian 12's crun 1.8 refuses a v1 hybrid host outright.
						b.Skipf("%s cannot run on this host: %s", rt, msg)
					}
					b.Fatalf("%s exit %v: %s", rt, ws, msg)
				}
				d = append(d, time.Since(t0))
				b.StopTimer()
				_ = destroyCgroup(spec)
				b.StartTimer()
			}
			reportQuantiles(b, d)
		})
	}
}

// BenchmarkSealSelf: the one-off cost per monitor process of the protected
// view of its binary (CVE-2019-5736): read-only detached bind vs memfd copy.
func BenchmarkSealSelf(b *testing.B) {
	requireRoot(b)
	b.Run("ro-bind", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f, err := roBindSelf()
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("memfd", func(b *testing.B) {
		st, _ := os.Stat("/proc/self/exe")
		for i := 0; i < b.N; i++ {
			f, err := makeSealedSelf()
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB-copied/op")
	})
}

// BenchmarkExecTrue: Exec of `true` into a running container until reaped.
func BenchmarkExecTrue(b *testing.B) {
	requireRoot(b)
	spec, rootfs := testSpec(b, "sleep", "1000")
	c := create(b, spec, rootfs)
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	p := &specs.Process{Args: []string{"/bin/true"}, Env: []string{"PATH=/bin"}, Cwd: "/"}
	var d []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		pid, _, err := Exec(context.Background(), ExecOptions{Cgroups: hostTree, ContainerPid: c.Pid, Spec: spec, Process: p})
		if err != nil {
			b.Fatal(err)
		}
		if ws := waitExit(b, pid); ws.ExitStatus() != 0 {
			b.Fatalf("exit %v", ws)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	reportQuantiles(b, d)
}

// BenchmarkCreateStartInPod: like BenchmarkCreateStartTrue, but the way CRI
// creates containers: pid, ipc, uts and net joined from the pod's infra
// process (a joined-namespace thread, no new network namespace per container).
func BenchmarkCreateStartInPod(b *testing.B) {
	requireRoot(b)
	infra := &specs.Spec{Hostname: "benchpod", Linux: &specs.Linux{
		CgroupsPath: cgParent + "/pod" + randID(),
		Namespaces: []specs.LinuxNamespace{{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}},
	}}
	pod, err := CreatePodInfra(context.Background(), infra, hostTree)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = destroyCgroup(infra) })
	var d []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		spec, rootfs := testSpec(b, "/bin/true")
		spec.Hostname = ""
		spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace}}
		for _, n := range []struct {
			typ  specs.LinuxNamespaceType
			name string
		}{{specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"}, {specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "net"}} {
			spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: n.typ, Path: "/proc/" + itoa(pod) + "/ns/" + n.name})
		}
		b.StartTimer()
		d = append(d, createStartWait(b, spec, rootfs))
	}
	b.StopTimer()
	reportQuantiles(b, d)
}

// createStartWait times one container from Create to its exit; the teardown is not timed.
func createStartWait(b *testing.B, spec *specs.Spec, rootfs []specs.Mount) time.Duration {
	t0 := time.Now()
	c, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "b" + randID(), Spec: spec, Rootfs: rootfs})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	if ws := waitExit(b, c.Pid); ws.ExitStatus() != 0 {
		b.Fatalf("exit %v", ws)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	if err := destroyCgroup(spec); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return elapsed
}
