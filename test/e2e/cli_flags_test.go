package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIRunFlags: the rest of `crid run`'s flags, each observed from inside the container
// (or in the runtime's own status for the resources).
func TestCLIRunFlags(t *testing.T) {
	c := newCLITarget(t, "cli-flags")
	name := "flags-" + randHex(3)
	c.removeOnCleanup(t, name)
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# a comment\nFROM_FILE=file value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok(t, "run", "-d", "--name", name, "-e", "FROM_FLAG=flag", "--env-file", envFile,
		"--user", "1234:2345", "--workdir", "/tmp", "--hostname", "flaghost", "--memory", "64m", "--cpus", "0.5",
		"--read-only", "--cap-drop", "ALL", "--cap-add", "net_raw", "--entrypoint", "sleep", c.image, "600")
	got := c.ok(t, "exec", name, "sh", "-c",
		`echo "$FROM_FLAG|$FROM_FILE|$(id -u):$(id -g)|$(pwd)|$(hostname)|$(grep CapEff /proc/self/status | cut -f2)"; touch /rootfs-write 2>/dev/null || echo read-only; cat /proc/1/cmdline | tr '\0' ' '`)
	want := "flag|file value|1234:2345|/tmp|flaghost|0000000000000000\nread-only\nsleep 600 "
	if got != want {
		t.Errorf("inside the container:\n%q\nwant\n%q", got, want)
	}
	// The exec'd shell gets no capabilities as uid 1234; the container's own process has
	// NET_RAW (bit 13) in its bounding set and nothing else.
	if bnd := c.ok(t, "exec", name, "sh", "-c", "grep CapBnd /proc/1/status | cut -f2"); strings.TrimSpace(bnd) != "0000000000002000" {
		t.Errorf("CapBnd with --cap-drop ALL --cap-add net_raw: %q, want 0000000000002000", bnd)
	}
	var v []struct {
		ContainerStatus struct {
			Resources struct {
				Linux struct {
					MemoryLimitInBytes string `json:"memoryLimitInBytes"`
					CPUQuota           string `json:"cpuQuota"`
					CPUPeriod          string `json:"cpuPeriod"`
				} `json:"linux"`
			} `json:"resources"`
		}
	}
	if err := json.Unmarshal([]byte(c.ok(t, "inspect", name)), &v); err != nil || len(v) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if l := v[0].ContainerStatus.Resources.Linux; l.MemoryLimitInBytes != "67108864" || l.CPUQuota != "50000" || l.CPUPeriod != "100000" {
		t.Errorf("resources the runtime reports: %+v, want 64 MiB and 50000/100000 CPU", l)
	}
	priv := c.ok(t, "run", "--rm", "--privileged", c.image, "sh", "-c", "grep CapEff /proc/self/status | cut -f2")
	if p := strings.TrimSpace(priv); p == "0000000000000000" || p == "00000000a80425fb" {
		t.Errorf("--privileged: CapEff %q, want all capabilities", p)
	}
}
