package main

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/config"
)

// statusInfo is what a verbose CRI Status (`crictl info`) reports besides the conditions:
// the configuration in force, versions and what the node was probed to support.
func (d *daemon) statusInfo() map[string]any {
	cfg := d.cfg
	if d.running != nil {
		cfg = d.running()
	}
	var uts unix.Utsname
	kernel := ""
	if unix.Uname(&uts) == nil {
		kernel = unix.ByteSliceToString(uts.Release[:])
	}
	f := d.pods.Features()
	network := map[string]any{"confDir": cfg.CNIConfDir, "binDirs": cfg.CNIBinDirs, "ready": true}
	if err := d.network.Ready(); err != nil {
		network["ready"], network["reason"] = false, err.Error()
	}
	return map[string]any{
		"config":  config.Values(cfg),
		"version": map[string]string{"crid": config.Version, "criApi": "v1", "go": runtime.Version()},
		"features": map[string]any{
			"kernel":                   kernel,
			"cgroupDriver":             cfg.CgroupDriver,
			"recursiveReadOnlyMounts":  f.RecursiveReadOnlyMounts,
			"userNamespaces":           f.UserNamespaces,
			"supplementalGroupsPolicy": f.SupplementalGroupsPolicy,
			"kernelProbes":             d.kernel, // oci/kernel: what the executor's probe found and the fallbacks chosen
		},
		"network":  network,
		"kernel":   d.kernel, // the start-time probe: what works, the fallbacks taken, what is missing
		"apparmor": d.appArmor.info(),
	}
}
