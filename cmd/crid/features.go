package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/spec"
	"github.com/crid-dev/crid/sandbox/spec/hostinfo"
)

// Node facts are probed once at start so that Status advertises only what really works.

// probeKernel asks the executor's binary which kernel interfaces work here
// (it can make the user namespace some probes need); scratch dirs go under dir.
// A failed probe advertises nothing that needs one and says why; the second
// result (what monitors are handed) is then nil and each monitor probes itself.
func probeKernel(monitor, dir string, log *slog.Logger) (kernel.Features, *kernel.Features) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, monitor, kernel.ProbeArg, dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var f kernel.Features
	if err == nil {
		err = json.Unmarshal(out, &f)
	}
	if err != nil {
		f = kernel.Features{Release: kernel.Release(), IDMappedOverlay: kernel.IDMappedNone,
			Missing: map[kernel.Probe]string{"probe": fmt.Sprintf("%s %s: %v %s", monitor, kernel.ProbeArg, err, stderr.String())}}
		log.Error("kernel probe failed: user namespaces are not advertised", "error", f.Missing["probe"])
		return f, nil
	}
	if len(f.Missing) == 0 {
		log.Info("kernel probed", "summary", f.String())
	} else {
		log.Warn("kernel probed: some interfaces are missing, fallbacks or not advertised", "summary", f.String(), "missing", f.Missing)
	}
	return f, &f
}

func userNamespacesEnabled() bool {
	b, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

// runtimeFeatures are what Status advertises: user namespaces only where
// overlayfs can sit on idmapped layers, recursive read-only mounts only with
// mount_setattr.
func runtimeFeatures(k kernel.Features) sandbox.Features {
	return sandbox.Features{
		RecursiveReadOnlyMounts:  k.MountSetattr,
		UserNamespaces:           k.UserNamespaces && userNamespacesEnabled(),
		SupplementalGroupsPolicy: true, // resolved by crid itself from the image's /etc/group
	}
}

func specHost(driver string, aa *appArmorState) spec.Host {
	d := spec.CgroupfsDriver
	if driver == "systemd" {
		d = spec.SystemdDriver
	}
	return hostinfo.Probe(hostinfo.Options{CgroupDriver: d, DefaultAppArmorProfile: aa.defaultProfile, AppArmorSkipped: aa.runtimeDefaultSkipped})
}
