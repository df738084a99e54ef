package e2e

import (
	"os"
	"path/filepath"
	"strings"
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

// TestPodFilesReadOnly: /etc/resolv.conf, /etc/hostname and /etc/hosts live in
// the state dir on the host's /run tmpfs; a container (root, writable rootfs)
// cannot write them, so it can neither fill the node's /run nor rewrite its
// siblings' DNS. A pod that wants a writable file mounts its own there.
func TestPodFilesReadOnly(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "podfiles")
	podID := d.runPod(t, pod)
	own := filepath.Join(d.Dir, "podfiles-hosts")
	if err := os.WriteFile(own, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := containerConfig("writer", testImage(t, d), "sleep", "3600")
	id := d.runContainer(t, podID, pod, cfg)
	for _, f := range []string{"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"} {
		if out, errOut, code := d.execSync(t, id, 0, "sh", "-c", "head -c 65536 /dev/zero >> "+f); code == 0 {
			t.Errorf("append to %s succeeded (stdout %q stderr %q)", f, out, errOut)
		}
	}
	for _, f := range []string{"resolv.conf", "hostname", "hosts"} {
		st, err := os.Stat(filepath.Join(d.State, "pods", podID, f))
		if err != nil {
			t.Errorf("pod file %s on the host: %v", f, err)
		} else if st.Size() >= 65536 {
			t.Errorf("pod file %s on the host grew to %d bytes", f, st.Size())
		}
	}
	cfg = containerConfig("own-hosts", testImage(t, d), "sleep", "3600")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/etc/hosts", HostPath: own}}
	id = d.runContainer(t, podID, pod, cfg)
	d.mustExec(t, id, "sh", "-c", "echo 10.0.0.1 added >> /etc/hosts")
	if b, _ := os.ReadFile(own); !strings.Contains(string(b), "10.0.0.1 added") {
		t.Errorf("the pod's own /etc/hosts mount is not writable: %q", b)
	}
}

// TestPauseRootIsEmpty: in a pod sharing its PID namespace, pid 1 is the pause;
// a container with CAP_SYS_PTRACE follows /proc/1/root and finds an empty
// read-only root, not the host's filesystem (a host file stays unreadable and
// unwritable through it).
func TestPauseRootIsEmpty(t *testing.T) {
	d := sharedDaemon(t)
	secret := filepath.Join(d.Dir, "pause-secret")
	if err := os.WriteFile(secret, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := d.podConfig(t, "pause-root")
	pod.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
	podID := d.runPod(t, pod)
	cfg := containerConfig("tracer", testImage(t, d), "sleep", "3600")
	cfg.Linux.SecurityContext.Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"SYS_PTRACE"}}
	id := d.runContainer(t, podID, pod, cfg)
	if cmd := d.mustExec(t, id, "cat", "/proc/1/cmdline"); !strings.HasPrefix(cmd, "crid-pause\x00") {
		t.Fatalf("pid 1 of the pod is %q, not the pause", cmd)
	}
	out, errOut, _ := d.execSync(t, id, 0, "sh", "-c",
		"ls -A /proc/1/root/ | wc -l; cat /proc/1/root"+secret+"; touch /proc/1/root"+secret+".new && echo wrote; true")
	if strings.Contains(out, "host data") || strings.Contains(out, "wrote") || !strings.HasPrefix(out, "0\n") {
		t.Fatalf("through the pause's root the container saw %q (stderr %q)", out, errOut)
	}
}
