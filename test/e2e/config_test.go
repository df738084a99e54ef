package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerConfig: what a pod spec sets reaches the process: args, env, working dir,
// hostPath mounts (read-write and read-only), DNS, hostname and /etc/hosts, sysctls.
func TestContainerConfig(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "config")
	pod.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"e2e.svc.cluster.local"}, Options: []string{"ndots:5"}}
	pod.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "42", "kernel.shmmni": "3000"}
	podID := d.runPod(t, pod)

	rw := filepath.Join(d.Dir, "config-rw")
	ro := filepath.Join(d.Dir, "config-ro")
	for _, dir := range []string{rw, ro} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ro, "in"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := containerConfig("cfg", testImage(t, d), "sh")
	// The container's own process reports the sysctls (an exec is not guaranteed to share
	// its network and IPC namespaces: see TestExecNamespaces).
	cfg.Args = []string{"-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni > /rw/sysctls; echo $GREETING > /rw/out; exec sleep 3600"}
	cfg.Envs = []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hello env")}, {Key: "PATH", Value: []byte("/bin:/usr/bin:/sbin")}}
	cfg.WorkingDir = "/tmp/wd"
	cfg.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/rw", HostPath: rw},
		{ContainerPath: "/ro", HostPath: ro, Readonly: true},
	}
	id := d.runContainer(t, podID, pod, cfg)

	if err := waitFor(10*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(rw, "out"))
		if err == nil && string(b) != "hello env\n" {
			return errString("out: " + string(b))
		}
		return err
	}); err != nil {
		t.Errorf("the container's write through the hostPath mount: %v", err)
	}
	if got := d.mustExec(t, id, "pwd"); got != "/tmp/wd\n" {
		t.Errorf("working dir %q, want /tmp/wd", got)
	}
	if got := d.mustExec(t, id, "sh", "-c", "echo $GREETING"); got != "hello env\n" {
		t.Errorf("env in exec %q", got)
	}
	if got := d.mustExec(t, id, "cat", "/ro/in"); got != "from-host\n" {
		t.Errorf("read-only mount content %q", got)
	}
	if _, _, code := d.execSync(t, id, 0, "touch", "/ro/x"); code == 0 {
		t.Errorf("write to a read-only mount succeeded")
	}
	resolv := d.mustExec(t, id, "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.96.0.10", "search e2e.svc.cluster.local", "options ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("/etc/resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	if hosts := d.mustExec(t, id, "cat", "/etc/hosts"); !strings.Contains(hosts, "localhost") {
		t.Errorf("/etc/hosts has no localhost:\n%s", hosts)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "sysctls")); err != nil || string(b) != "42\n3000\n" {
		t.Errorf("pod sysctls net.ipv4.ip_unprivileged_port_start, kernel.shmmni = %q %v, want 42 and 3000", b, err)
	}
}

// TestSharedPidNamespace: with a pod-wide pid namespace, containers see each other.
func TestSharedPidNamespace(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "sharedpid")
	pod.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
	podID := d.runPod(t, pod)
	d.runContainer(t, podID, pod, containerConfig("a", img, "sleep", "1111"))
	b := d.runContainer(t, podID, pod, containerConfig("b", img, "sleep", "2222"))
	eventually(t, 10*time.Second, func() error {
		ps := d.mustExec(t, b, "ps", "-o", "args")
		if !strings.Contains(ps, "sleep 1111") {
			return errString("container b does not see a's process:\n" + ps)
		}
		return nil
	})
}

// TestSeccomp: RuntimeDefault blocks what the default profile forbids (creating a user
// namespace without CAP_SYS_ADMIN); Unconfined does not.
func TestSeccomp(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "seccomp")
	podID := d.runPod(t, pod)
	run := func(name string, p *runtimeapi.SecurityProfile) string {
		cfg := containerConfig(name, img, "sleep", "3600")
		cfg.Linux.SecurityContext.Seccomp = p
		return d.runContainer(t, podID, pod, cfg)
	}
	def := run("runtimedefault", &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault})
	unconf := run("unconfined", &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined})
	if st := procStatus(t, d, def); st["Seccomp"] != "2" {
		t.Errorf("RuntimeDefault: Seccomp mode %q, want 2 (filter)", st["Seccomp"])
	}
	if st := procStatus(t, d, unconf); st["Seccomp"] != "0" {
		t.Errorf("Unconfined: Seccomp mode %q, want 0", st["Seccomp"])
	}
	if _, errOut, code := d.execSync(t, def, 0, "unshare", "-U", "true"); code == 0 {
		t.Errorf("unshare -U succeeded under RuntimeDefault")
	} else if !strings.Contains(errOut, "not permitted") {
		t.Errorf("unshare -U under RuntimeDefault: %q, want EPERM", errOut)
	}
}

// TestOOMKilled: a container over its memory limit is killed and reported OOMKilled.
func TestOOMKilled(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "oom")
	podID := d.runPod(t, pod)
	// dd fills a 256 MiB buffer in one read(2) of /dev/zero (see TestIdleMonitorSwitch).
	cfg := containerConfig("hog", testImage(t, d), "sh", "-c", "dd if=/dev/zero of=/dev/null bs=256M count=1")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20}
	id := d.runContainer(t, podID, pod, cfg)
	st := d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 60*time.Second)
	if st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Errorf("memory hog: exit %d reason %q, want 137 OOMKilled", st.ExitCode, st.Reason)
	}
}

// TestKubeletRetries: kubelet gives up on a slow RunPodSandbox or CreateContainer (its
// deadline passes) and retries with the same config. The retry must get the pod or
// container (the one the first call made, or a new one), never "name is reserved", and
// exactly one must exist afterwards.
func TestKubeletRetries(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "retry")
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	first, err := d.RT.RunPodSandbox(short, &runtimeapi.RunPodSandboxRequest{Config: pod})
	cancel()
	if err == nil {
		d.recordPod(first.PodSandboxId)
		t.Cleanup(func() { d.removePod(t, first.PodSandboxId) })
		t.Logf("RunPodSandbox finished within 30ms: the retry below is a plain repeat")
	}
	podID := d.runPod(t, pod)
	pods, err := d.RT.ListPodSandbox(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxRequest{
		Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"name": "retry"}}})
	if err != nil || len(pods.GetItems()) != 1 || pods.Items[0].Id != podID {
		t.Errorf("pods named retry after the retry: %v %v, want only %s", pods.GetItems(), err, podID)
	}

	cfg := containerConfig("c", testImage(t, d), "sleep", "3600")
	short, cancel = context.WithTimeout(context.Background(), 5*time.Millisecond)
	_, err = d.RT.CreateContainer(short, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	cancel()
	if err == nil {
		t.Logf("CreateContainer finished within 5ms: the retry below is a plain repeat")
	}
	id := d.createContainer(t, podID, pod, cfg)
	ctrs, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	if err != nil || len(ctrs.GetContainers()) != 1 || ctrs.Containers[0].Id != id {
		t.Errorf("containers after the retry: %v %v, want only %s", ctrs.GetContainers(), err, id)
	}
}

// TestStatus: the runtime reports itself and its network ready.
func TestStatus(t *testing.T) {
	d := sharedDaemon(t)
	resp, err := d.RT.Status(ctxT(t, criTimeout), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	got := map[string]bool{}
	for _, c := range resp.Status.GetConditions() {
		got[c.Type] = c.Status
	}
	if !got[runtimeapi.RuntimeReady] || !got[runtimeapi.NetworkReady] {
		t.Errorf("Status conditions %v, want RuntimeReady and NetworkReady true", resp.Status.GetConditions())
	}
	// The kernel probe: how the rootfs is mounted here, and user namespaces
	// advertised exactly when overlayfs can sit on idmapped layers.
	var kern struct{ Release, Overlay, IDMappedOverlay string }
	if err := json.Unmarshal([]byte(resp.GetInfo()["kernel"]), &kern); err != nil {
		t.Fatalf("verbose status kernel: %v (%q)", err, resp.GetInfo()["kernel"])
	}
	if kern.Overlay != "lowerdir+" && kern.Overlay != "lowerdir=" {
		t.Errorf("verbose status kernel.overlay = %q", kern.Overlay)
	}
	userns := false
	for _, h := range resp.GetRuntimeHandlers() {
		userns = userns || h.GetFeatures().GetUserNamespaces()
	}
	if want := kern.IDMappedOverlay != "none"; userns != want {
		t.Errorf("user namespaces advertised %v, but kernel.idmappedOverlay = %q", userns, kern.IDMappedOverlay)
	}
	t.Logf("kernel: %+v", kern)
	v, err := d.RT.Version(ctxT(t, criTimeout), &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "crid" || v.RuntimeApiVersion != "v1" {
		t.Errorf("Version: %v %v, want crid, API v1", v, err)
	}
}
