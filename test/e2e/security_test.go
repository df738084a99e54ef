package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// procStatus returns /proc/self/status of a process exec'd in the container (an exec runs
// with the container's user, capabilities and no_new_privs).
func procStatus(t *testing.T, d *Daemon, id string) map[string]string {
	t.Helper()
	return parseStatus(d.mustExec(t, id, "cat", "/proc/self/status"))
}

func parseStatus(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func capMask(t *testing.T, hexMask string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(hexMask, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", hexMask, err)
	}
	return v
}

const (
	capChown    = 0
	capKill     = 5
	capNetRaw   = 13
	capSysAdmin = 21
)

// TestSecurityContext runs one pod with a container per security setting and observes each
// from inside the container.
func TestSecurityContext(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "security")
	podID := d.runPod(t, pod)
	run := func(name string, sc *runtimeapi.LinuxContainerSecurityContext) string {
		cfg := containerConfig(name, img, "sleep", "3600")
		cfg.Linux.SecurityContext = sc
		return d.runContainer(t, podID, pod, cfg)
	}
	def := run("default", &runtimeapi.LinuxContainerSecurityContext{})
	user := run("user", &runtimeapi.LinuxContainerSecurityContext{
		RunAsUser: &runtimeapi.Int64Value{Value: 1234}, RunAsGroup: &runtimeapi.Int64Value{Value: 5678},
		SupplementalGroups: []int64{4242},
	})
	ro := run("readonly", &runtimeapi.LinuxContainerSecurityContext{ReadonlyRootfs: true})
	caps := run("caps", &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{
		DropCapabilities: []string{"NET_RAW", "CAP_CHOWN"}, AddCapabilities: []string{"SYS_ADMIN"},
	}})
	dropAll := run("dropall", &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}}})
	nnp := run("nonewprivs", &runtimeapi.LinuxContainerSecurityContext{NoNewPrivs: true})

	t.Run("default", func(t *testing.T) {
		st := procStatus(t, d, def)
		eff := capMask(t, st["CapEff"])
		if eff&(1<<capChown) == 0 || eff&(1<<capKill) == 0 || eff&(1<<capSysAdmin) != 0 {
			t.Errorf("default CapEff %s: want CHOWN and KILL, not SYS_ADMIN", st["CapEff"])
		}
		if st["NoNewPrivs"] != "0" {
			t.Errorf("default NoNewPrivs %q, want 0", st["NoNewPrivs"])
		}
		if !strings.HasPrefix(st["Uid"], "0\t") {
			t.Errorf("default Uid %q, want root (the image's user)", st["Uid"])
		}
		// Masked and read-only kernel paths.
		// /proc/timer_list is in the default masked paths and exists on this kernel.
		if _, err := os.Stat("/proc/timer_list"); err == nil {
			if out := d.mustExec(t, def, "wc", "-c", "/proc/timer_list"); !strings.HasPrefix(strings.TrimSpace(out), "0 ") {
				t.Errorf("/proc/timer_list not masked: wc -c says %q", out)
			}
		}
		if _, _, code := d.execSync(t, def, 0, "sh", "-c", "echo e2e > /proc/sys/kernel/domainname"); code == 0 {
			t.Errorf("write to /proc/sys succeeded in an unprivileged container")
		}
		if _, _, code := d.execSync(t, def, 0, "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m"); code == 0 {
			t.Errorf("mount succeeded in an unprivileged container")
		}
		if _, _, code := d.execSync(t, def, 0, "touch", "/written"); code != 0 {
			t.Errorf("write to a writable rootfs failed")
		}
	})
	t.Run("run_as_user", func(t *testing.T) {
		st := procStatus(t, d, user)
		if st["Uid"] != "1234\t1234\t1234\t1234" || st["Gid"] != "5678\t5678\t5678\t5678" {
			t.Errorf("Uid %q Gid %q, want 1234 and 5678", st["Uid"], st["Gid"])
		}
		if !strings.Contains(" "+st["Groups"]+" ", " 4242 ") {
			t.Errorf("Groups %q, want the supplemental group 4242", st["Groups"])
		}
		if eff := capMask(t, st["CapEff"]); eff != 0 {
			t.Errorf("non-root CapEff %x, want 0", eff)
		}
	})
	t.Run("readonly_rootfs", func(t *testing.T) {
		_, errOut, code := d.execSync(t, ro, 0, "touch", "/newfile")
		if code == 0 {
			t.Errorf("touch /newfile succeeded on a read-only rootfs")
		} else if !strings.Contains(strings.ToLower(errOut), "read-only") {
			t.Errorf("touch /newfile: %q, want a read-only file system error", errOut)
		}
	})
	t.Run("capabilities", func(t *testing.T) {
		st := procStatus(t, d, caps)
		eff := capMask(t, st["CapEff"])
		if eff&(1<<capNetRaw) != 0 || eff&(1<<capChown) != 0 {
			t.Errorf("CapEff %s still has a dropped capability (NET_RAW, CHOWN)", st["CapEff"])
		}
		if eff&(1<<capSysAdmin) == 0 || eff&(1<<capKill) == 0 {
			t.Errorf("CapEff %s: want the added SYS_ADMIN and the default KILL", st["CapEff"])
		}
		if bnd := capMask(t, st["CapBnd"]); bnd&(1<<capNetRaw) != 0 {
			t.Errorf("CapBnd %s still has NET_RAW", st["CapBnd"])
		}
		if _, _, code := d.execSync(t, caps, 0, "sh", "-c", "touch /f && chown 1:1 /f"); code == 0 {
			t.Errorf("chown succeeded without CAP_CHOWN")
		}
		st = procStatus(t, d, dropAll)
		if st["CapEff"] != "0000000000000000" || st["CapBnd"] != "0000000000000000" {
			t.Errorf("drop ALL: CapEff %s CapBnd %s, want 0", st["CapEff"], st["CapBnd"])
		}
	})
	t.Run("no_new_privs", func(t *testing.T) {
		if st := procStatus(t, d, nnp); st["NoNewPrivs"] != "1" {
			t.Errorf("NoNewPrivs %q, want 1", st["NoNewPrivs"])
		}
	})
}
