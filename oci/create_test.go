package oci

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExitCode(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sh", "-c", "echo hello; exit 7")
	ws, out := run(t, spec, rootfs)
	if !ws.Exited() || ws.ExitStatus() != 7 {
		t.Fatalf("status %v, want exit 7; output %q", ws, out)
	}
	if strings.TrimSpace(out) != "hello" {
		t.Fatalf("output %q", out)
	}
}

// TestInside observes, from inside one container, most of what Create sets up.
func TestInside(t *testing.T) {
	requireRoot(t)
	script := `
echo "== status =="; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
echo "== hostname =="; hostname
echo "== id =="; id -u; id -g; id -G
echo "== mountinfo =="; cat /proc/self/mountinfo
echo "== dev =="; ls -1 /dev
echo "== keys =="; wc -c < /proc/keys
echo "== sysctl =="; cat /proc/sys/net/ipv4/ip_forward; echo 1 2>/dev/null > /proc/sys/kernel/ns_last_pid && echo writable || echo refused
echo "== nofile =="; ulimit -n
echo "== memlock =="; ulimit -l
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
echo "== memlimit =="; cat /sys/fs/cgroup/memory.max
echo "== pidsmax =="; cat /sys/fs/cgroup/pids.max
echo "== quota =="; cat /sys/fs/cgroup/cpu.max
echo "== shares =="; cat /sys/fs/cgroup/cpu.weight
echo "== cpuset =="; cat /sys/fs/cgroup/cpuset.cpus
echo "== memsw =="; cat /sys/fs/cgroup/memory.swap.max 2>/dev/null || echo no-swap-accounting
else
echo "== memlimit =="; cat /sys/fs/cgroup/memory/memory.limit_in_bytes
echo "== pidsmax =="; cat /sys/fs/cgroup/pids/pids.max
echo "== quota =="; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
echo "== shares =="; cat /sys/fs/cgroup/cpu/cpu.shares
echo "== cpuset =="; cat /sys/fs/cgroup/cpuset/cpuset.cpus
echo "== memsw =="; cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting
fi
echo "== rootro =="; touch /newfile 2>/dev/null && echo writable || echo refused
echo "== cwd =="; pwd
echo "== pid =="; echo $$
echo "== umask =="; umask
echo "== fds =="; ls /proc/self/fd
echo "== cgroup =="; cat /proc/self/cgroup
echo "== oom =="; cat /proc/self/oom_score_adj
`
	spec, rootfs := testSpec(t, "sh", "-c", script)
	spec.Process.NoNewPrivileges = true
	spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1001, 1002}}
	spec.Process.Cwd = "/work/dir" // created
	// The second asks for a hard limit above ours: clamped, not fatal, without CAP_SYS_RESOURCE.
	spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 333, Hard: 444},
		{Type: "RLIMIT_MEMLOCK", Soft: 65536, Hard: 1 << 50}}
	um := uint32(0o027)
	spec.Process.User.Umask = &um
	adj := 500
	spec.Process.OOMScoreAdj = &adj
	spec.Root.Readonly = true
	spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	mem, swap, pids, quota, period, shares := int64(64<<20), int64(96<<20), int64(42), int64(50000), uint64(100000), uint64(256)
	spec.Linux.Resources = &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem, Swap: &swap},
		Pids:   &specs.LinuxPids{Limit: &pids},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares, Cpus: "0"},
	}
	spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActErrno}}}
	ws, out := run(t, spec, rootfs)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("status %v; output:\n%s", ws, out)
	}
	st := section(out, "status")
	// CAP_CHOWN..: a non-root user with no ambient caps ends with CapEff 0
	// (capabilities are lost at execve for uid != 0): the effective set we
	// configured is checked through CapBnd, which keeps exactly the list.
	for _, want := range []string{"CapEff:\t0000000000000000", "CapBnd:\t00000000a80425fb", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %q:\n%s", want, st)
		}
	}
	check := func(name, want string) {
		t.Helper()
		if got := strings.TrimSpace(section(out, name)); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	check("hostname", spec.Hostname)
	check("id", "1000\n1000\n1000 1001 1002")
	check("keys", "0")
	check("sysctl", "1\nrefused")
	check("nofile", "333")
	check("memlock", "64")
	check("memlimit", "67108864")
	check("pidsmax", "42")
	check("cpuset", "0")
	// The same limits in each version's files: v2 has cpu.max, a weight for
	// shares and the swap alone (memory+swap minus memory) in memory.swap.max.
	quotaWant, sharesWant, memswWant := "50000", "256", "100663296"
	if hostTree.Unified {
		quotaWant, sharesWant, memswWant = "50000 100000", strconv.FormatUint(*cgroup2.ToResources(spec.Linux.Resources).CPU.Weight, 10), "33554432"
	}
	check("quota", quotaWant)
	check("shares", sharesWant)
	if got := strings.TrimSpace(section(out, "memsw")); got != memswWant && got != "no-swap-accounting" {
		t.Errorf("memsw: got %q, want %q", got, memswWant)
	}
	check("rootro", "refused")
	check("cwd", "/work/dir")
	check("pid", "1")
	check("umask", "0027")
	check("fds", "0\n1\n2\n3") // 3: ls's own directory fd
	if cg := section(out, "cgroup"); hostTree.Unified && cg != "0::/\n" ||
		!hostTree.Unified && (!strings.Contains(cg, ":memory:/\n") || !strings.Contains(cg, ":pids:/\n")) {
		t.Errorf("cgroup namespace root is not the container's cgroup:\n%s", cg)
	}
	check("oom", "500")
	dev := section(out, "dev")
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin", "stdout", "stderr", "mqueue"} {
		if !strings.Contains("\n"+dev, "\n"+d+"\n") {
			t.Errorf("/dev lacks %s:\n%s", d, dev)
		}
	}
	mi := section(out, "mountinfo")
	for _, want := range []string{" / / ro,", " /proc/sys ro,", " /sys ro,", " /proc/keys ro,", " /proc/acpi ro,"} {
		if !strings.Contains(mi, want) {
			t.Errorf("mountinfo lacks %q:\n%s", want, mi)
		}
	}
}

// cancelAfter is a context that reports itself cancelled from its n-th Err
// call on, without ever closing Done: it stands for a caller giving up between
// two setup steps before any AfterFunc could interrupt a blocking read.
type cancelAfter struct {
	context.Context
	n atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// A caller cancelling at any point of Create gets context.Canceled, and the
// failed create leaves no cgroup (a v1 cgroup with a live init in it could not
// be removed).
func TestCreateCancelledBetweenSteps(t *testing.T) {
	requireRoot(t)
	for n := int32(0); n <= 20; n++ {
		spec, rootfs := testSpec(t, "true")
		ctx := &cancelAfter{Context: context.Background()}
		ctx.n.Store(n)
		c, err := Create(ctx, CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs})
		if err == nil {
			c.sync.Close()
			_ = destroyCgroup(spec)
			if ctx.n.Load() < 0 {
				t.Fatalf("create cancelled at check %d succeeded", n)
			}
			if n == 0 {
				t.Fatal("create never checks its context")
			}
			t.Logf("create checks its context %d times", n)
			return
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("create cancelled at check %d: %v, want context.Canceled", n, err)
		}
		p, _ := cgPath(spec)
		if d := hostTree.Dirs(p); len(d) != 0 {
			t.Fatalf("create cancelled at check %d left cgroups: %v", n, d)
		}
	}
	t.Fatal("create checks its context more than 20 times")
}
