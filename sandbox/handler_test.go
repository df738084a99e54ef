package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

// withHandlers: the built-in executor as "crid", and an external "runc" whose privileged
// containers get no host devices and whose specs carry a default annotation.
func withHandlers(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, func(cfg *sandbox.Config) {
		cfg.Features = sandbox.Features{UserNamespaces: true}
		cfg.Handlers = []sandbox.Handler{
			{Name: "crid", Features: cfg.Features},
			{Name: "runc", PrivilegedWithoutHostDevices: true, DefaultAnnotations: map[string]string{"x.io/default": "handler", "x.io/set": "handler"}},
		}
		cfg.SpecHost.HostDevices = func() ([]specs.LinuxDevice, error) {
			return []specs.LinuxDevice{{Path: "/dev/host-disk", Type: "b", Major: 8}}, nil
		}
	})
}

func TestRunPodHandlers(t *testing.T) {
	t.Parallel()
	h := withHandlers(t)
	ctx := context.Background()

	_, err := h.m.RunPod(ctx, podConfig("kata"), "kata")
	wantKind(t, err, errdefs.ErrNotFound)
	for _, name := range []string{`"kata"`, `"crid"`, `"runc"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("unknown handler error %q does not name %s", err, name)
		}
	}
	if n := len(h.m.Pods(sandbox.PodFilter{})); n != 0 {
		t.Errorf("an unknown handler made %d pods", n)
	}

	for _, handler := range []string{"", "crid", "runc"} {
		cfg := podConfig("p-" + handler)
		cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}}
		id, err := h.m.RunPod(ctx, cfg, handler)
		if err != nil {
			t.Fatalf("handler %q: %v", handler, err)
		}
		p, _ := h.m.Pod(id)
		if p.RuntimeHandler != handler {
			t.Errorf("pod of handler %q reports %q", handler, p.RuntimeHandler)
		}
		if got := h.env.Runtime.Monitor(p.Dir).Handler; got != handler {
			t.Errorf("the monitor of a %q pod was started for handler %q", handler, got)
		}
		cc := ctrConfig("c")
		cc.Annotations = map[string]string{"x.io/set": "request"}
		cc.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}}
		cid, err := h.m.CreateContainer(ctx, id, cc)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := h.m.Container(cid)
		devs, ann := c.Spec.Linux.Devices, c.Spec.Annotations
		if handler == "runc" {
			if len(devs) != 0 {
				t.Errorf("privileged_without_host_devices: the container got %v", devs)
			}
			// Nor may it mknod one: no allow-all device rule.
			for _, r := range c.Spec.Linux.Resources.Devices {
				if r.Allow && r.Major == nil && r.Minor == nil {
					t.Errorf("privileged_without_host_devices: the container may make any device: %+v", c.Spec.Linux.Resources.Devices)
				}
			}
			if ann["x.io/default"] != "handler" || ann["x.io/set"] != "request" {
				t.Errorf("default annotations: %v (the request's value must win)", ann)
			}
		} else {
			if len(devs) != 1 {
				t.Errorf("handler %q: a privileged container must get the host's devices, got %v", handler, devs)
			}
			if _, ok := ann["x.io/default"]; ok {
				t.Errorf("handler %q got another handler's default annotations: %v", handler, ann)
			}
		}
	}

	// A user-namespaced pod: refused before anything is made on a handler whose runtime
	// does not support it, although the node (the built-in executor) does.
	userns := podConfig("userns")
	userns.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{
			Mode: runtimeapi.NamespaceMode_POD,
			Uids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}},
		}},
	}}
	before := len(h.m.Pods(sandbox.PodFilter{}))
	_, err = h.m.RunPod(ctx, userns, "runc")
	wantKind(t, err, errdefs.ErrFailedPrecondition)
	if !strings.Contains(err.Error(), `"runc"`) || len(h.m.Pods(sandbox.PodFilter{})) != before {
		t.Errorf("a user-namespaced pod on runc: %v (it must name the handler and make nothing)", err)
	}
	if _, err := h.m.RunPod(ctx, userns, "crid"); err != nil {
		t.Errorf("a user-namespaced pod on the built-in executor, which supports them: %v", err)
	}

	got := map[string]sandbox.Features{}
	for _, hd := range h.m.Handlers() {
		got[hd.Name] = hd.Features
	}
	if len(got) != 3 || !got[""].UserNamespaces || !got["crid"].UserNamespaces || got["runc"].UserNamespaces {
		t.Errorf("Handlers() = %+v", h.m.Handlers())
	}
}

// A pod whose handler has left the config (crid restarted without it) gets no new
// container: made without the handler's options (privileged_without_host_devices...) it
// would get what the operator withheld. containerd refuses the same way.
func TestCreateContainerHandlerGone(t *testing.T) {
	t.Parallel()
	h := withHandlers(t)
	ctx := context.Background()
	cfg := podConfig("gone")
	cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}}
	id, err := h.m.RunPod(ctx, cfg, "runc")
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Handlers = h.cfg.Handlers[:1] // "crid" only
	h.restart()
	cc := ctrConfig("c")
	cc.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}}
	_, err = h.m.CreateContainer(ctx, id, cc)
	wantKind(t, err, errdefs.ErrFailedPrecondition)
	if !strings.Contains(err.Error(), `"runc"`) {
		t.Errorf("the error %q does not name the handler", err)
	}
	if n := len(h.m.Containers(sandbox.ContainerFilter{})); n != 0 {
		t.Errorf("%d containers made", n)
	}
}

// A recursive read-only mount is refused on a pod whose handler does not support it,
// whatever the built-in executor supports: "ro" alone would leave the submounts writable.
func TestRecursiveReadOnlyPerHandler(t *testing.T) {
	t.Parallel()
	h := withHandlers(t)
	h.cfg.Features.RecursiveReadOnlyMounts = true
	h.cfg.Handlers[0].Features.RecursiveReadOnlyMounts = true
	h.restart()
	if !h.m.Handlers()[0].Features.RecursiveReadOnlyMounts {
		t.Skip("this kernel has no mount_setattr: no handler supports recursive read-only mounts")
	}
	ctx := context.Background()
	for handler, supported := range map[string]bool{"": true, "crid": true, "runc": false} {
		cfg := podConfig("rro-" + handler)
		id, err := h.m.RunPod(ctx, cfg, handler)
		if err != nil {
			t.Fatal(err)
		}
		cc := ctrConfig("c")
		cc.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: t.TempDir(), Readonly: true, RecursiveReadOnly: true}}
		_, err = h.m.CreateContainer(ctx, id, cc)
		if supported && err != nil {
			t.Errorf("handler %q: %v", handler, err)
		}
		if !supported && (!errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "recursive_read_only")) {
			t.Errorf("handler %q without recursive read-only mounts: %v, want FailedPrecondition", handler, err)
		}
	}
}
