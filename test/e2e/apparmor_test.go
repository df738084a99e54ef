package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/apparmor"
)

// These run where the node has AppArmor (the VM tier's Debian guests) and
// skip elsewhere, except TestAppArmorAbsent, which runs where it is not.

func requireAppArmor(t *testing.T) {
	t.Helper()
	if !apparmor.Enabled() {
		t.Skip("this kernel has no AppArmor (the VM tier's guests have it): nothing to confine with")
	}
}

func appArmorProfile(typ runtimeapi.SecurityProfile_ProfileType, ref string) *runtimeapi.SecurityProfile {
	return &runtimeapi.SecurityProfile{ProfileType: typ, LocalhostRef: ref}
}

// confinedProbe is a container that could mount and write /proc/sys but
// for AppArmor: CAP_SYS_ADMIN, no seccomp filter, /proc/sys not read-only.
func confinedProbe(name, image string, p *runtimeapi.SecurityProfile) *runtimeapi.ContainerConfig {
	cfg := containerConfig(name, image, "sleep", "3600")
	sc := cfg.Linux.SecurityContext
	sc.Apparmor = p
	sc.Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"SYS_ADMIN"}}
	sc.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	sc.ReadonlyPaths = []string{"/proc/bus"} // not empty: crid's defaults would make /proc/sys read-only
	return cfg
}

// What is tried: writing a sysctl that is not per namespace (its own value:
// harmless if it went through), and a mount.
const (
	forbiddenWrite = "cat /proc/sys/vm/overcommit_memory > /proc/sys/vm/overcommit_memory"
	forbiddenMount = "mkdir -p /probe-mnt && mount -t tmpfs probe /probe-mnt"
)

// TestAppArmorRuntimeDefault: RuntimeDefault (and a container naming no
// profile) runs under crid's loaded profile, exec included, and the profile
// denies what the same container unconfined may do.
func TestAppArmorRuntimeDefault(t *testing.T) {
	requireAppArmor(t)
	d := sharedDaemon(t)
	pod := d.podConfig(t, "apparmor-default")
	podID := d.runPod(t, pod)
	image := testImage(t, d)
	profile := apparmor.DefaultProfile().Name

	for name, p := range map[string]*runtimeapi.SecurityProfile{
		"runtime-default": appArmorProfile(runtimeapi.SecurityProfile_RuntimeDefault, ""),
		"unspecified":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			id := d.runContainer(t, podID, pod, confinedProbe(name, image, p))
			if got := d.mustExec(t, id, "cat", "/proc/self/attr/current"); strings.TrimSpace(got) != profile+" (enforce)" {
				t.Errorf("exec confined by %q, want %s (enforce)", got, profile)
			}
			if got := d.mustExec(t, id, "cat", "/proc/1/attr/current"); strings.TrimSpace(got) != profile+" (enforce)" {
				t.Errorf("container process confined by %q, want %s (enforce)", got, profile)
			}
			if out, errOut, code := d.execSync(t, id, 0, "sh", "-c", forbiddenWrite); code == 0 || !strings.Contains(errOut+out, "Permission denied") {
				t.Errorf("%s under %s: exit %d %q %q, want Permission denied", forbiddenWrite, profile, code, out, errOut)
			}
			if out, errOut, code := d.execSync(t, id, 0, "sh", "-c", forbiddenMount); code == 0 || !strings.Contains(errOut+out, "Permission denied") {
				t.Errorf("mount under %s: exit %d %q %q, want Permission denied", profile, code, out, errOut)
			}
		})
	}
	// The control: the same container unconfined does both.
	id := d.runContainer(t, podID, pod, confinedProbe("unconfined", image, appArmorProfile(runtimeapi.SecurityProfile_Unconfined, "")))
	if got := d.mustExec(t, id, "cat", "/proc/self/attr/current"); strings.TrimSpace(got) != "unconfined" {
		t.Errorf("unconfined container runs under %q", got)
	}
	d.mustExec(t, id, "sh", "-c", forbiddenWrite)
	d.mustExec(t, id, "sh", "-c", forbiddenMount)
}

// TestAppArmorLocalhostNotLoaded: a container naming a profile the kernel
// does not have is refused at CreateContainer (FailedPrecondition), and no
// container is left (critest's "should fail with an unloaded profile").
func TestAppArmorLocalhostNotLoaded(t *testing.T) {
	requireAppArmor(t)
	d := sharedDaemon(t)
	pod := d.podConfig(t, "apparmor-unloaded")
	podID := d.runPod(t, pod)
	cfg := containerConfig("unloaded", testImage(t, d), "true")
	cfg.Linux.SecurityContext.Apparmor = appArmorProfile(runtimeapi.SecurityProfile_Localhost, "localhost/crid-e2e-not-loaded-"+randHex(4))
	wantRefused(t, d, podID, pod, cfg, codes.FailedPrecondition)
}

// TestAppArmorAbsent: without AppArmor, crid keeps running containers, an
// explicit RuntimeDefault runs unconfined and is reported in the verbose
// status (never pretended), and a Localhost profile is refused.
func TestAppArmorAbsent(t *testing.T) {
	if apparmor.Enabled() {
		t.Skip("this kernel has AppArmor: TestAppArmorRuntimeDefault covers it")
	}
	d := startDaemon(t, daemonOptions{})
	pod := d.podConfig(t, "apparmor-absent")
	podID := d.runPod(t, pod)
	image := testImage(t, d)
	info := func() map[string]any {
		resp, err := d.RT.Status(ctxT(t, criTimeout), &runtimeapi.StatusRequest{Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		var aa map[string]any
		if err := json.Unmarshal([]byte(resp.GetInfo()["apparmor"]), &aa); err != nil {
			t.Fatalf("verbose status apparmor %q: %v", resp.GetInfo()["apparmor"], err)
		}
		return aa
	}
	if aa := info(); aa["enabled"] != false || aa["runtimeDefaultUnconfined"] != false {
		t.Fatalf("verbose status apparmor before any request: %v", aa)
	}
	cfg := containerConfig("default", image, "sleep", "3600")
	cfg.Linux.SecurityContext.Apparmor = appArmorProfile(runtimeapi.SecurityProfile_RuntimeDefault, "")
	d.runContainer(t, podID, pod, cfg)
	if aa := info(); aa["runtimeDefaultUnconfined"] != true {
		t.Errorf("verbose status apparmor after a RuntimeDefault request: %v, want runtimeDefaultUnconfined", aa)
	}
	cfg = containerConfig("localhost", image, "true")
	cfg.Linux.SecurityContext.Apparmor = appArmorProfile(runtimeapi.SecurityProfile_Localhost, "some-profile")
	wantRefused(t, d, podID, pod, cfg, codes.FailedPrecondition)
}

// wantRefused: CreateContainer fails with code and leaves no container.
func wantRefused(t *testing.T, d *Daemon, podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig, code codes.Code) {
	t.Helper()
	resp, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if err == nil {
		d.recordContainer(resp.ContainerId)
	}
	if status.Code(err) != code {
		t.Fatalf("CreateContainer %s: %v, want %v", cfg.Metadata.Name, err, code)
	}
	list, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	for _, c := range list.GetContainers() {
		if c.GetMetadata().GetName() == cfg.Metadata.Name {
			t.Errorf("container %s left after the refusal (%v)", c.Id, err)
		}
	}
}
