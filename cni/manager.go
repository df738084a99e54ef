// Package cni gives pods their network: it pins a network namespace per pod
// and runs the CNI plugin chain (libcni ADD/DEL/CHECK) found in the config
// dir, with the Kubernetes runtime capabilities (port mappings, bandwidth,
// IP ranges, DNS). It knows nothing of CRI or of the sandbox package.
package cni

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/errdefs"
)

// Defaults used when a Config field is empty; they match crid's config package.
const (
	DefaultConfDir  = "/etc/cni/net.d"
	DefaultNetNSDir = "/run/crid/netns"
	DefaultCacheDir = "/var/lib/crid/cni"
)

// DefaultBinDirs are searched in order: the upstream location first, then
// where Debian's containernetworking-plugins installs.
var DefaultBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// Config says where the network configs, plugins and crid's own state live.
type Config struct {
	ConfDir            string
	BinDirs            []string
	WriteDefaultConfig bool   // write crid's default conflist when ConfDir has none (see default_policy.go)
	DefaultInCluster   bool   // write and use it even when kubelet runs in cluster mode
	NetNSDir           string // pinned netns files, e.g. <state>/netns
	CacheDir           string // libcni result cache, e.g. <root>/cni
	// ClusterMode reports whether kubelet runs in cluster mode; nil probes /proc and
	// KubeletConf (KubeletClusterMode).
	ClusterMode func() bool
}

// Manager owns pod network namespaces and CNI invocations. It is safe for
// concurrent use; calls for different pods run in parallel.
type Manager struct {
	cfg Config
	cni *libcni.CNIConfig

	mu       sync.Mutex
	conf     confState // guarded by mu
	podCIDRs []string  // guarded by mu; from SetPodCIDR, sent as ipRanges

	clusterMode *clusterModeCache

	nsDirMu    sync.Mutex
	nsDirReady bool // guarded by nsDirMu
}

// New loads the network config (writing crid's default first when allowed
// and the dir has none). A missing or invalid config is not an error here:
// the node simply reports the network not ready until one appears, as
// kubelet expects from a runtime. New fails only on a bad Config.
func New(cfg Config) (*Manager, error) {
	if cfg.ConfDir == "" {
		cfg.ConfDir = DefaultConfDir
	}
	if len(cfg.BinDirs) == 0 {
		cfg.BinDirs = DefaultBinDirs
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = DefaultNetNSDir
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = DefaultCacheDir
	}
	// Relative paths would depend on the daemon's working directory, and
	// plugins run with their own.
	for _, dir := range append([]string{cfg.ConfDir, cfg.NetNSDir, cfg.CacheDir}, cfg.BinDirs...) {
		if !filepath.IsAbs(dir) {
			return nil, fmt.Errorf("cni: %q is not an absolute path: %w", dir, errdefs.ErrInvalidArgument)
		}
	}
	if cfg.ClusterMode == nil {
		cfg.ClusterMode = func() bool { return KubeletClusterMode("/proc", KubeletConf) }
	}
	m := &Manager{
		cfg:         cfg,
		cni:         libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, nil),
		clusterMode: &clusterModeCache{probe: cfg.ClusterMode},
	}
	if cfg.WriteDefaultConfig {
		if why := m.defaultBlocked(); why != "" {
			slog.Info("cni: not writing crid's default network", "why", why)
		} else if err := writeDefaultConfig(cfg.ConfDir); err != nil {
			// Not fatal: the daemon still serves host-network pods, and Ready
			// keeps telling kubelet (and the operator) that no config exists.
			slog.Warn("cni: could not write the default network config", "err", err)
		}
	}
	_, _ = m.current() // load now so startup logs say early what is wrong
	return m, nil
}

// Close releases the netns dir when no pod is left (config reload is polled, see
// config.go, so there is no watcher to stop). The netns dir is a self-bind mount (see ensureNetNSDir) that pinned namespaces of live
// pods need across daemon restarts; with no pod left, Close releases it so a stopped crid
// leaves no mount behind.
func (m *Manager) Close() error {
	if pods, err := m.ListNetNS(); err != nil || len(pods) > 0 {
		return nil
	}
	if err := unix.Unmount(m.cfg.NetNSDir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cni: release %s: %w", m.cfg.NetNSDir, err)
	}
	m.nsDirMu.Lock()
	m.nsDirReady = false
	m.nsDirMu.Unlock()
	return nil
}

// SetPodCIDR sets the ranges host-local allocates from (capability
// "ipRanges") for pods set up afterwards. kubelet sends the node's pod CIDRs
// comma-separated (dual stack); "" clears them and the config's own ranges apply.
func (m *Manager) SetPodCIDR(cidr string) error {
	var cidrs []string
	for _, c := range strings.Split(cidr, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(c); err != nil {
			return fmt.Errorf("cni: pod CIDR %q: %w", c, errdefs.ErrInvalidArgument)
		}
		cidrs = append(cidrs, c)
	}
	m.mu.Lock()
	m.podCIDRs = cidrs
	m.mu.Unlock()
	return nil
}
