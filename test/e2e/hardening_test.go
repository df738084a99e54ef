package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSysctlSmuggling (CVE-2022-0811 class): a sysctl value carrying a second
// assignment, a newline or more values than its key takes is InvalidArgument,
// and nothing is made: no pod, no pod dir, the host's sysctl untouched.
func TestSysctlSmuggling(t *testing.T) {
	d := sharedDaemon(t)
	corePattern, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{
		"plus":       "1+kernel.core_pattern=|/tmp/pwned",
		"newline":    "1\nkernel.core_pattern=|/tmp/pwned",
		"two-values": "4000 junk",
	} {
		t.Run(name, func(t *testing.T) {
			before := podDirs(t, d)
			pod := d.podConfig(t, "sysctl-"+name)
			pod.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": value}
			resp, err := d.RT.RunPodSandbox(ctxT(t, criTimeout), &runtimeapi.RunPodSandboxRequest{Config: pod})
			if err == nil {
				d.recordPod(resp.PodSandboxId)
				t.Cleanup(func() { d.removePod(t, resp.PodSandboxId) })
			}
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("RunPodSandbox with kernel.shm_rmid_forced=%q: %v, want InvalidArgument", value, err)
			}
			list, err := d.RT.ListPodSandbox(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxRequest{
				Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"name": pod.Metadata.Name}}})
			if err != nil || len(list.Items) != 0 {
				t.Errorf("pods after the refusal: %v %v, want none", list.GetItems(), err)
			}
			if after := podDirs(t, d); len(after) != len(before) {
				t.Errorf("pod dirs %v after the refusal, %v before", after, before)
			}
		})
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); string(now) != string(corePattern) {
		t.Errorf("host kernel.core_pattern changed: %q, was %q", now, corePattern)
	}
}

// podDirs lists the per-pod dirs in the daemon's state dir.
func podDirs(t *testing.T, d *Daemon) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(d.State, "pods", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
