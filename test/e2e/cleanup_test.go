package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// Cleanup removes everything the daemon and its pods made, and only that. It first asks
// crid (like kubelet would) to stop and remove every pod; whatever is left after that is a
// leak in crid and reported as an error, then removed by force: processes (by pid), mounts
// under the temp dir, cgroups named after our pods and containers, iptables rules naming our
// network, the bridge and the temp dir. Safe to call twice.
func (d *Daemon) Cleanup() []error {
	d.mu.Lock()
	if d.cleaned {
		d.mu.Unlock()
		return nil
	}
	d.cleaned = true
	d.mu.Unlock()

	var errs []error
	criOK := false
	if d.Pid() != 0 {
		if err := d.removeAllPods(); err != nil {
			errs = append(errs, fmt.Errorf("removing pods through CRI: %w", err))
		} else {
			criOK = true
		}
		if err := d.Stop(syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
	}
	// leak records leftovers: a crid bug when CRI removal succeeded, expected otherwise
	// (crid was down or broken), and either way removed below.
	leak := func(format string, a ...any) {
		if criOK {
			errs = append(errs, fmt.Errorf("leaked after RemovePodSandbox: "+format, a...))
		}
	}
	d.collectIDsFromState()

	// Monitors may take a moment to exit after their pod is removed.
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); ; {
		pids = d.ourProcesses()
		if len(pids) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(pids) > 0 {
		leak("processes %s", hoststate.Describe(pids))
		if err := hoststate.Kill(pids, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if mps := d.ourMounts(); len(mps) > 0 {
		// crid keeps its netns dir a mount point of its own (as iproute2 does /run/netns)
		// across restarts: not a pod's leftover.
		if pods := slices.DeleteFunc(slices.Clone(mps), func(mp string) bool { return mp == filepath.Join(d.State, "netns") }); len(pods) > 0 {
			leak("mounts %v", pods)
		}
		if err := hoststate.Unmount(mps); err != nil {
			errs = append(errs, err)
		}
	}
	if veths := bridgePorts(d.Bridge); len(veths) > 0 {
		leak("veths on %s: %v", d.Bridge, veths)
		for _, v := range veths {
			_ = exec.Command("ip", "link", "del", v).Run()
		}
	}
	if rules, err := d.removeIptables(); err != nil {
		errs = append(errs, err)
	} else if len(rules) > 0 {
		leak("iptables rules %q", rules)
	}
	if cgs, err := d.removeCgroups(); err != nil {
		errs = append(errs, err)
	} else if len(cgs) > 0 {
		leak("cgroups %v", cgs)
	}
	if linkExists(d.Bridge) {
		if out, err := exec.Command("ip", "link", "del", d.Bridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", d.Bridge, err, out))
		}
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", d.Dir, err))
	}
	releaseSubnet(d.Subnet)
	// Verify: nothing of ours may remain.
	if pids := d.ourProcesses(); len(pids) > 0 {
		errs = append(errs, fmt.Errorf("cleanup left processes %s", hoststate.Describe(pids)))
	}
	if mps := d.ourMounts(); len(mps) > 0 {
		errs = append(errs, fmt.Errorf("cleanup left mounts %v", mps))
	}
	if linkExists(d.Bridge) {
		errs = append(errs, fmt.Errorf("cleanup left bridge %s", d.Bridge))
	}
	return errs
}

// removeAllPods stops and removes every pod through CRI, recording the ids for the
// leftover search.
func (d *Daemon) removeAllPods() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctrs, err := d.RT.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return err
	}
	pods, err := d.RT.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	d.mu.Lock()
	for _, c := range ctrs.Containers {
		d.ctrIDs[c.Id] = true
	}
	for _, p := range pods.Items {
		d.podIDs[p.Id] = true
	}
	d.mu.Unlock()
	var errs []error
	for _, p := range pods.Items {
		if _, err := d.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = append(errs, fmt.Errorf("StopPodSandbox %s: %w", p.Id, err))
			continue
		}
		if _, err := d.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = append(errs, fmt.Errorf("RemovePodSandbox %s: %w", p.Id, err))
		}
	}
	return errors.Join(errs...)
}

func (d *Daemon) recordPod(id string) {
	d.mu.Lock()
	d.podIDs[id] = true
	d.mu.Unlock()
}

func (d *Daemon) recordContainer(id string) {
	d.mu.Lock()
	d.ctrIDs[id] = true
	d.mu.Unlock()
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32,64}$`)

// collectIDsFromState adds the ids crid named its state dirs after (pods a crash left
// behind that CRI no longer lists).
func (d *Daemon) collectIDsFromState() {
	_ = filepath.WalkDir(d.State, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() && strings.Count(strings.TrimPrefix(p, d.State), "/") > 4 {
			return fs.SkipDir
		}
		if hexID.MatchString(e.Name()) {
			d.mu.Lock()
			if !d.podIDs[e.Name()] {
				d.ctrIDs[e.Name()] = true
			}
			d.mu.Unlock()
		}
		return nil
	})
}

func (d *Daemon) ids() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id := range d.podIDs {
		ids = append(ids, id)
	}
	for id := range d.ctrIDs {
		ids = append(ids, id)
	}
	return ids
}

// ourProcesses: processes whose command line names our temp dir (crid, its monitors) or
// whose cgroup names one of our pods or containers, and all their descendants.
func (d *Daemon) ourProcesses() []int {
	ids := d.ids()
	procs := hoststate.Procs()
	var roots []int
	for pid, p := range procs {
		if strings.Contains(p.Cmdline, d.Dir+"/") {
			roots = append(roots, pid)
			continue
		}
		for _, id := range ids {
			if strings.Contains(p.Cgroup, id) || (strings.Contains(p.Cmdline, "crid-monitor") && strings.Contains(p.Cmdline, id)) {
				roots = append(roots, pid)
				break
			}
		}
	}
	return hoststate.WithDescendants(procs, roots)
}

// ourMounts lists mount points under the temp dir or naming our ids, deepest first.
func (d *Daemon) ourMounts() []string {
	ids := d.ids()
	return hoststate.Mounts(func(mp string) bool {
		if strings.HasPrefix(mp, d.Dir+"/") {
			return true
		}
		for _, id := range ids {
			if strings.Contains(mp, id) {
				return true
			}
		}
		return false
	})
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

func bridgePorts(bridge string) []string {
	ents, err := os.ReadDir("/sys/class/net/" + bridge + "/brif")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// removeIptables deletes the rules that name our network/bridge or our /24 and the per-pod
// CNI-DN-/CNI-SN- chains they jump to; it returns the rules it removed. Shared chains
// (CNI-HOSTPORT-*) stay: other runtimes on the machine use them too.
func (d *Daemon) removeIptables() ([]string, error) {
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return nil, nil
	}
	markers := []string{d.Bridge, strings.TrimSuffix(d.Subnet, "0/24")}
	var removed []string
	for _, table := range []string{"nat", "filter", "mangle"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			continue // table not loaded
		}
		var dels, chains []string
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "-A ") {
				continue
			}
			mine := false
			for _, m := range markers {
				if m != "" && strings.Contains(line, m) {
					mine = true
				}
			}
			if !mine {
				continue
			}
			removed = append(removed, table+": "+line)
			dels = append(dels, "-D "+strings.TrimPrefix(line, "-A "))
			if f := strings.Fields(line); len(f) > 0 {
				for i := range len(f) - 1 {
					if (f[i] == "-j" || f[i] == "-g") && (strings.HasPrefix(f[i+1], "CNI-DN-") || strings.HasPrefix(f[i+1], "CNI-SN-")) && !slices.Contains(chains, f[i+1]) {
						chains = append(chains, f[i+1])
					}
				}
			}
		}
		if len(dels) == 0 {
			continue
		}
		var in bytes.Buffer
		fmt.Fprintf(&in, "*%s\n", table)
		for _, l := range dels {
			fmt.Fprintln(&in, l)
		}
		for _, c := range chains {
			fmt.Fprintf(&in, "-F %s\n-X %s\n", c, c)
		}
		fmt.Fprintln(&in, "COMMIT")
		cmd := exec.Command("iptables-restore", "--noflush")
		cmd.Stdin = &in
		if o, err := cmd.CombinedOutput(); err != nil {
			return removed, fmt.Errorf("iptables-restore (%s): %v: %s\ninput:\n%s", table, err, o, in.String())
		}
	}
	return removed, nil
}

// removeCgroups removes cgroup dirs (every hierarchy) whose name contains one of our ids,
// deepest first, and returns them.
func (d *Daemon) removeCgroups() ([]string, error) {
	ids := d.ids()
	if len(ids) == 0 {
		return nil, nil
	}
	var found []string
	tops, _ := os.ReadDir("/sys/fs/cgroup")
	for _, top := range tops {
		if !top.IsDir() { // skips the cpu -> cpu,cpuacct style symlinks
			continue
		}
		_ = filepath.WalkDir(filepath.Join("/sys/fs/cgroup", top.Name()), func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			for _, id := range ids {
				if strings.Contains(e.Name(), id) {
					found = append(found, p)
					break
				}
			}
			return nil
		})
	}
	sort.Slice(found, func(i, j int) bool { return strings.Count(found[i], "/") > strings.Count(found[j], "/") })
	var errs []error
	for _, p := range found {
		var err error
		for range 50 { // a killed process leaves its cgroup a moment later
			if err = syscall.Rmdir(p); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", p, err))
		}
	}
	return found, errors.Join(errs...)
}
