package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// cleanup runs on every exit. After a successful run crid has removed everything itself
// and this only deletes the temp dir and what the demo added to the host's CNI setup;
// after a failure it removes the pods through CRI, then by force what is left: processes
// (by pid), mounts under the temp dir. It reports what it could not remove.
func (d *demo) cleanup() error {
	var errs []error
	if len(d.podIDs) > 0 && d.rt != nil {
		say("\ncleanup: removing the demo's pods through CRI")
		for _, id := range d.podIDs {
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			if _, err := d.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
				errs = append(errs, fmt.Errorf("StopPodSandbox: %w", err))
			} else if _, err := d.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
				errs = append(errs, fmt.Errorf("RemovePodSandbox: %w", err))
			}
			cancel()
		}
	}
	if err := d.stopDaemon(); err != nil {
		errs = append(errs, err)
	}
	if d.dir == "" {
		return errors.Join(errs...)
	}
	if pids := d.leftoverProcesses(); len(pids) > 0 {
		errs = append(errs, fmt.Errorf("processes left running (killed): %s", hoststate.Describe(pids)))
		if err := hoststate.Kill(pids, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// crid keeps its netns dir a mount point of its own across restarts (as iproute2
	// does /run/netns); anything else under the temp dir is a leftover.
	netnsDir := filepath.Join(d.state, "netns")
	if mps := hoststate.Mounts(func(mp string) bool { return strings.HasPrefix(mp, d.dir+"/") }); len(mps) > 0 {
		if len(mps) > 1 || mps[0] != netnsDir {
			errs = append(errs, fmt.Errorf("mounts left (unmounted): %v", mps))
		}
		if err := hoststate.Unmount(mps); err != nil {
			errs = append(errs, err)
		}
	}
	if d.keepLogs || len(errs) > 0 {
		if err := os.Rename(d.logPath, d.dir+".log"); err == nil {
			d.logPath = d.dir + ".log"
			say("crid's log kept at %s", d.logPath)
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, err)
	}
	// The host's CNI setup as it was: crid wrote its default conflist into an empty
	// /etc/cni/net.d and the bridge plugin made the bridge and the address store.
	if !d.hadConf && exists(defaultConf) {
		if err := os.Remove(defaultConf); err != nil {
			errs = append(errs, err)
		}
	}
	if !d.hadBridge && exists("/sys/class/net/"+defaultBr) {
		if ports, _ := os.ReadDir("/sys/class/net/" + defaultBr + "/brif"); len(ports) == 0 {
			if out, err := exec.Command("ip", "link", "del", defaultBr).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", defaultBr, err, out))
			}
		}
	}
	if !d.hadIPAMDir {
		// Only the lock and last-reserved files may remain; a reservation file is a leak.
		ents, _ := os.ReadDir(hostLocalDir + defaultNet)
		clean := true
		for _, e := range ents {
			if e.Name() != "lock" && !strings.HasPrefix(e.Name(), "last_reserved_ip") {
				clean = false
				errs = append(errs, fmt.Errorf("address still reserved: %s", filepath.Join(hostLocalDir, defaultNet, e.Name())))
			}
		}
		if clean {
			os.RemoveAll(hostLocalDir + defaultNet)
		}
	}
	for _, dir := range d.newCgroups {
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("cgroup left: %w", err))
		}
	}
	return errors.Join(errs...)
}

// leftoverProcesses: processes whose command line names the temp dir (crid, its monitors
// with --state-dir) or the demo's pod, with their descendants.
func (d *demo) leftoverProcesses() []int {
	procs := hoststate.Procs()
	var roots []int
	for pid, p := range procs {
		if strings.Contains(p.Cmdline, d.dir+"/") || (podID != "" && strings.Contains(p.Cmdline, podID)) {
			roots = append(roots, pid)
		}
	}
	return hoststate.WithDescendants(procs, roots)
}
