package spec

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/crid-dev/crid/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// testEtc is an image's /etc with a few users and groups.
var testEtc = fstest.MapFS{
	"etc/passwd": {Data: []byte(`root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:1001:::/bin/sh
broken line without fields
`)},
	"etc/group": {Data: []byte(`root:x:0:
daemon:x:1:
app:x:1000:
audio:x:29:app,other
video:x:44:other,app
staff:x:50:
nohome:x:1001:
`)},
}

// wantInvalid fails unless err is InvalidArgument naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want InvalidArgument naming %q, got nil", field)
	}
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	if !strings.Contains(err.Error(), field) {
		t.Fatalf("error %q does not name %q", err, field)
	}
}

func podConfig() *runtime.PodSandboxConfig {
	return &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "uid-1"},
		Hostname:     "web-host",
		LogDirectory: "/var/log/pods/default_web_uid-1",
		Linux: &runtime.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/burstable/poduid-1",
			SecurityContext: &runtime.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtime.NamespaceOption{},
			},
		},
	}
}

func podInput() PodInput {
	return PodInput{ID: "pod1", Config: podConfig(), NetNSPath: "/run/crid/netns/pod1", RootPath: "/run/crid/pods/pod1/root"}
}

func containerInput() ContainerInput {
	return ContainerInput{
		ID:        "ctr1",
		SandboxID: "pod1",
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "app"},
			Linux: &runtime.LinuxContainerConfig{
				SecurityContext: &runtime.LinuxContainerSecurityContext{
					NamespaceOptions: &runtime.NamespaceOption{},
				},
			},
		},
		Sandbox: podConfig(),
		Image: Image{
			Name: "docker.io/library/app:1",
			Config: ocispec.ImageConfig{
				Entrypoint: []string{"/entry"},
				Cmd:        []string{"serve"},
				Env:        []string{"PATH=/bin", "A=image"},
			},
			Etc: testEtc,
		},
		RootfsPath: "/run/crid/ctr1/rootfs",
		PodNamespaces: NamespacePaths{
			Network: "/run/crid/netns/pod1",
			IPC:     "/proc/100/ns/ipc",
			UTS:     "/proc/100/ns/uts",
			PID:     "/proc/100/ns/pid",
			User:    "/proc/100/ns/user",
		},
		PodFiles: PodFiles{
			Hosts:      "/run/crid/pods/pod1/hosts",
			ResolvConf: "/run/crid/pods/pod1/resolv.conf",
			Hostname:   "/run/crid/pods/pod1/hostname",
			Shm:        "/run/crid/pods/pod1/shm",
		},
	}
}

func mustContainer(t *testing.T, in ContainerInput) *specs.Spec {
	t.Helper()
	s, err := ContainerSpec(in)
	if err != nil {
		t.Fatalf("ContainerSpec: %v", err)
	}
	return s
}

func findMount(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func namespaceOf(l *specs.Linux, t specs.LinuxNamespaceType) *specs.LinuxNamespace {
	for i := range l.Namespaces {
		if l.Namespaces[i].Type == t {
			return &l.Namespaces[i]
		}
	}
	return nil
}

func envValue(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}

// endsInError checks a table case's error: when wantField is set the error
// must be InvalidArgument naming it and the case ends; otherwise err must be nil.
func endsInError(t *testing.T, err error, wantField string) bool {
	t.Helper()
	if wantField != "" {
		wantInvalid(t, err, wantField)
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

func assertAnnotations(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got[k], v)
		}
	}
}
