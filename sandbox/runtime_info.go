package sandbox

import (
	"errors"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SetPodCIDR passes kubelet's pod CIDR (UpdateRuntimeConfig) to the network plugin.
func (m *Manager) SetPodCIDR(cidr string) error {
	if cidr == "" {
		return nil
	}
	return m.deps.Network.SetPodCIDR(cidr)
}

// NetworkReady reports whether pods with their own network can be made.
func (m *Manager) NetworkReady() error { return m.deps.Network.Ready() }

// Handler is a runtime handler (a RuntimeClass's handler) and what it supports.
type Handler struct {
	Name     string
	Features Features
	// PrivilegedWithoutHostDevices: privileged containers get no host devices.
	PrivilegedWithoutHostDevices bool
	// DefaultAnnotations go into the OCI spec of each container unless the spec has
	// the key already.
	DefaultAnnotations map[string]string
}

// Handlers lists the runtime handlers with their features. A feature is advertised only
// when cmd/crid says the executor supports it and the kernel can do it here.
func (m *Manager) Handlers() []Handler {
	f := m.cfg.Features
	f.RecursiveReadOnlyMounts = f.RecursiveReadOnlyMounts && kernelHasMountSetattr()
	out := []Handler{{Name: "", Features: f}}
	for _, h := range m.cfg.Handlers {
		h.Features.RecursiveReadOnlyMounts = h.Features.RecursiveReadOnlyMounts && kernelHasMountSetattr()
		out = append(out, h)
	}
	return out
}

// handler returns the pod's runtime handler; the empty name is the built-in executor.
func (m *Manager) handler(name string) (Handler, bool) {
	if name == "" {
		return Handler{Features: m.cfg.Features}, true
	}
	for _, h := range m.cfg.Handlers {
		if h.Name == name {
			return h, true
		}
	}
	return Handler{}, false
}

// handlerNames are the names RunPodSandbox accepts, for an error message.
func (m *Manager) handlerNames() []string {
	names := []string{""}
	for _, h := range m.cfg.Handlers {
		names = append(names, h.Name)
	}
	return names
}

// addDefaultAnnotations sets the handler's default annotations the spec lacks.
func addDefaultAnnotations(s *specs.Spec, h Handler) {
	if len(h.DefaultAnnotations) == 0 || s == nil {
		return
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	for k, v := range h.DefaultAnnotations {
		if _, ok := s.Annotations[k]; !ok {
			s.Annotations[k] = v
		}
	}
}

// Features returns the runtime-wide features (supplemental groups policy).
func (m *Manager) Features() Features { return m.cfg.Features }

var mountSetattr = sync.OnceValue(func() bool {
	// mount_setattr(-1, "", 0, NULL, 0): EBADF/EINVAL when the syscall exists, ENOSYS when not.
	err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
})

// kernelHasMountSetattr: recursive read-only mounts need mount_setattr (Linux 5.12).
func kernelHasMountSetattr() bool { return mountSetattr() }
