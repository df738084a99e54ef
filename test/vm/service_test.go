package vm

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// hostPid is the container's init on the host, from the verbose status.
func hostPid(t *testing.T, id string) int {
	t.Helper()
	var info struct{ Pid int }
	if err := json.Unmarshal([]byte(statusResp(t, id).Info["info"]), &info); err != nil || info.Pid <= 0 {
		t.Fatalf("container %s: no pid in verbose status (%v)", id, err)
	}
	return info.Pid
}

// procField returns a "Key:" line's value of /proc/PID/status.
func procField(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, key)
	return ""
}

// cgroupOf is the process's cgroup v2 path ("0::/a/b" → "/a/b").
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	t.Fatalf("pid %d: no cgroup v2 entry in %q", pid, b)
	return ""
}

// TestServiceUnit: the unit runs crid as installed — Type=notify, READY=1 received (the
// unit is active, not activating), protected from the OOM killer, in its own cgroup.
func TestServiceUnit(t *testing.T) {
	props := map[string]string{}
	for _, l := range strings.Split(systemctl(t, "show", unit, "-p", "Type,ActiveState,SubState,MainPID,StatusErrno,KillMode,Delegate,ControlGroup"), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			props[k] = v
		}
	}
	for k, want := range map[string]string{"Type": "notify", "ActiveState": "active", "SubState": "running", "KillMode": "process", "Delegate": "yes"} {
		if props[k] != want {
			t.Errorf("%s %s=%q, want %q", unit, k, props[k], want)
		}
	}
	pid, _ := strconv.Atoi(props["MainPID"])
	if pid <= 0 {
		t.Fatalf("%s has no main pid: %v", unit, props)
	}
	if adj, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid)); strings.TrimSpace(string(adj)) != "-999" {
		t.Errorf("crid oom_score_adj %q, want -999", strings.TrimSpace(string(adj)))
	}
	if got := cgroupOf(t, pid); got != props["ControlGroup"] {
		t.Errorf("crid runs in cgroup %q, its unit's is %q", got, props["ControlGroup"])
	}
}

// TestPodSurvivesServiceRestart: `systemctl restart crid` and `systemctl stop` + `start`
// leave a running pod alone — same container process, its log still written — and crid
// adopts it: the container's later exit code and its whole log come through CRI.
func TestPodSurvivesServiceRestart(t *testing.T) {
	podID, podCfg := pod(t, "restart")
	id := container(t, podID, podCfg, "ticker", nil, "sh", "-c",
		`i=0; while [ ! -f /tmp/stop ]; do echo tick $i; i=$((i+1)); sleep 0.2; done; echo done; exit 7`)
	pid := hostPid(t, id)
	logPath := status(t, id).LogPath
	ticks := func() int {
		b, _ := os.ReadFile(logPath)
		return strings.Count(string(b), " tick ")
	}
	waitTicks := func(n int) {
		eventually(t, 30*time.Second, func() string {
			if got := ticks(); got < n {
				return fmt.Sprintf("log %s has %d ticks, want %d", logPath, got, n)
			}
			return ""
		})
	}
	waitTicks(2)

	restarted := func(how string) {
		t.Helper()
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			t.Fatalf("after %s the container process %d is gone", how, pid)
		}
		if err := connect(); err != nil {
			t.Fatal(err)
		}
		// Type=notify: systemctl returned only after READY=1, so the socket answers now.
		if _, err := rt.Version(ctxT(t), &runtimeapi.VersionRequest{}); err != nil {
			t.Fatalf("after %s: Version: %v", how, err)
		}
		if st := status(t, id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || hostPid(t, id) != pid {
			t.Fatalf("after %s: container %v pid %d, want running pid %d", how, st.State, hostPid(t, id), pid)
		}
		waitTicks(ticks() + 2) // the log is still written
	}
	systemctl(t, "restart", unit)
	restarted("systemctl restart " + unit)
	systemctl(t, "stop", unit)
	time.Sleep(time.Second) // the container ticks on with crid down
	systemctl(t, "start", unit)
	restarted("systemctl stop + start " + unit)

	execOut(t, id, "touch", "/tmp/stop")
	eventually(t, 30*time.Second, func() string {
		if st := status(t, id); st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			return fmt.Sprintf("container still %v after /tmp/stop", st.State)
		}
		return ""
	})
	if st := status(t, id); st.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", st.ExitCode)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{" tick 0\n", " tick 1\n", " done\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q after the restarts:\n%s", strings.TrimSpace(want), log)
		}
	}
}

// TestMonitorsOutsideServiceCgroup: each pod's monitor lives outside crid's unit cgroup,
// so systemd never counts pods as part of the crid service (a `systemctl kill crid` or a
// KillMode change cannot take pods down, and `systemctl status crid` shows crid alone).
func TestMonitorsOutsideServiceCgroup(t *testing.T) {
	podID, podCfg := pod(t, "monitor-cgroup")
	id := container(t, podID, podCfg, "sleep", nil, "sleep", "3600")
	monitor, _ := strconv.Atoi(procField(t, hostPid(t, id), "PPid"))
	unitCgroup := systemctl(t, "show", unit, "-p", "ControlGroup", "--value")
	if got := cgroupOf(t, monitor); got == unitCgroup || strings.HasPrefix(got, unitCgroup+"/") {
		t.Errorf("pod monitor %d is in crid's unit cgroup %s (%s)", monitor, unitCgroup, got)
	}
}
