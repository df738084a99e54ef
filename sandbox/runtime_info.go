package sandbox

import (
	"errors"
	"sync"

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

// Handler is a runtime handler and what it supports.
type Handler struct {
	Name     string
	Features Features
}

// Handlers lists the runtime handlers with their features. A feature is advertised only
// when cmd/crid says the executor supports it and the kernel can do it here.
func (m *Manager) Handlers() []Handler {
	f := m.cfg.Features
	f.RecursiveReadOnlyMounts = f.RecursiveReadOnlyMounts && kernelHasMountSetattr()
	out := []Handler{{Name: "", Features: f}}
	for _, h := range m.cfg.Handlers {
		out = append(out, Handler{Name: h, Features: f})
	}
	return out
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
