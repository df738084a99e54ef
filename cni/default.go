package cni

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultConfigFile is the name crid's default network config is written as: "zz" sorts
// after every cluster CNI's file (10-flannel.conflist, 10-calico.conflist, 05-cilium.conflist,
// ...), so even while both exist a loader that takes the first file by name never picks it.
const DefaultConfigFile = "zz-crid-default.conflist"

// DefaultCNIVersion is the cniVersion of DefaultConfig (see there why).
const DefaultCNIVersion = "0.4.0"

// DefaultConfig is the conflist crid writes so that a fresh machine works out of the box:
// a bridge with host-local addresses, hostPorts through portmap, and lo up through loopback
// (crid also raises lo itself). It must never take over a cluster's network (see
// default_policy.go for when it is written, ignored and removed), so it uses names no
// cluster CNI uses: bridge crid0 (flannel and the conformance kit use cni0) on 10.89.0.0/16
// (the kit's and containerd's default is 10.88.0.0/16: two bridges both holding one subnet
// would give the host two routes for it).
//
// Its network name is fixed, not per daemon: every crid on the host (tests start several)
// shares one host-local store (/var/lib/cni/networks/crid), whose file lock keeps
// addresses unique.
//
// No "ipRanges" capability: Debian's host-local (1.1.1) prepends runtime ranges to the
// configured ones instead of replacing them, so a pod would get an address from each (or
// fail on overlap). A config that wants the node's pod CIDR from SetPodCIDR declares the
// capability and no static ranges.
//
// No masquerade: pods reach each other and the host; outbound NAT is a policy decision
// left to the operator's own config.
//
// No bandwidth plugin: Debian's (1.1.1) panics on CHECK for a pod without bandwidth
// limits, which would fail every status check; operators who want the
// kubernetes.io/*-bandwidth annotations honoured add it after portmap.
//
// cniVersion 0.4.0 (DefaultCNIVersion): the newest version every supported plugin
// release speaks. Debian 11's plugins (0.9.x) stop at 0.4.0 and refuse 1.0.0, while
// plugins 0.8 up to today's 1.x all accept 0.4.0; it already has CHECK, and crid turns
// any result into the 1.0.0 form itself (podIPs). A fixed version rather than asking
// the plugins: the file must not change with what happens to be installed when crid
// first starts (a later plugin upgrade or downgrade would otherwise strand it).
const DefaultConfig = `{
  "cniVersion": "` + DefaultCNIVersion + `",
  "name": "crid",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "crid0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{
          "subnet": "10.89.0.0/16",
          "gateway": "10.89.0.1"
        }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    {
      "type": "portmap",
      "capabilities": { "portMappings": true }
    },
    {
      "type": "loopback"
    }
  ]
}
`

// writeDefaultConfig writes DefaultConfig into dir (creating it) when the dir
// holds no config file. The file appears atomically (temp file + rename), so
// a concurrent reader, or another crid doing the same, never sees half of it.
func writeDefaultConfig(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cni: reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if isConfFile(e.Name()) {
			return nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cni: creating %s: %w", dir, err)
	}
	// The temp name starts with a dot, which the loader ignores.
	tmp, err := os.CreateTemp(dir, "."+DefaultConfigFile+".*")
	if err != nil {
		return fmt.Errorf("cni: writing default config: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.WriteString(DefaultConfig); err != nil {
		tmp.Close()
		return fmt.Errorf("cni: writing default config: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("cni: writing default config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("cni: writing default config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cni: writing default config: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, DefaultConfigFile)); err != nil {
		return fmt.Errorf("cni: writing default config: %w", err)
	}
	return nil
}
