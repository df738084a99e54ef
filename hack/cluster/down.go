package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// down removes everything state.json records, in the order that lets each step succeed:
// kubelets first (they would restart pods), then the pods through their runtime, then the
// other processes, mounts, iptables rules, network, cgroups and files. It goes on past a
// failed step and reports them all.
func down(c *config) error {
	s, err := loadState(c.statePath())
	if err != nil {
		return err
	}
	if s == nil {
		fmt.Println("cluster: nothing to take down")
		return nil
	}
	var errs []error
	byName := func(prefix string) []*proc {
		var ps []*proc
		for i := range s.Procs {
			if strings.HasPrefix(s.Procs[i].Name, prefix) {
				ps = append(ps, &s.Procs[i])
			}
		}
		return ps
	}
	for _, prefix := range []string{"kubelet-", "kube-proxy-"} {
		for _, p := range byName(prefix) {
			p.stop(10 * time.Second)
		}
	}
	for _, p := range byName("crid-") {
		if p.alive() && p.Socket != "" {
			if err := removePods("unix://"+p.Socket, false); err != nil {
				errs = append(errs, fmt.Errorf("%s: removing pods: %w", p.Name, err))
			}
		}
	}
	if s.RuntimeEndpoint != "" {
		if err := removePods(s.RuntimeEndpoint, true); err != nil {
			errs = append(errs, fmt.Errorf("%s: removing pods: %w", s.RuntimeEndpoint, err))
		}
	}
	for i := len(s.Procs) - 1; i >= 0; i-- {
		s.Procs[i].stop(15 * time.Second)
	}
	// Pods a runtime failed to remove leave processes in the cluster's cgroups.
	killCgroupProcs(s.CgroupRoots)

	if s.KubeProxyHost {
		if err := run(filepath.Join(s.K8sBin, "kube-proxy"), "--cleanup"); err != nil {
			errs = append(errs, err)
		}
	}
	if s.KubeletHost {
		errs = append(errs, removeKubeletChains()...)
	}
	errs = append(errs, unmountUnder(c.dir, c.runDir)...)
	for _, ns := range s.Netns {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			if err := run("ip", "netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for i := len(s.Links) - 1; i >= 0; i-- {
		// A veth goes with its peer's namespace, maybe a moment after the namespace.
		if err := run("ip", "link", "del", s.Links[i]); err != nil && linkExists(s.Links[i]) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, removeCgroups(s.CgroupRoots)...)
	if len(errs) > 0 {
		// Keep the state, so that another down can finish the job.
		return errors.Join(errs...)
	}
	if err := os.RemoveAll(c.runDir); err != nil {
		return err
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "logs" {
			continue // kept for reading after a failure; up starts them anew
		}
		if err := os.RemoveAll(filepath.Join(c.dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		fmt.Printf("cluster: down (logs kept in %s)\n", c.logs())
	}
	return errors.Join(errs...)
}

// removePods stops and removes the runtime's pod sandboxes: all of them on a crid started
// for the cluster, only kubelet's (those with a pod UID label) on another runtime.
func removePods(endpoint string, kubeletOnly bool) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range resp.Items {
		if kubeletOnly && p.Labels["io.kubernetes.pod.uid"] == "" {
			continue
		}
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stop pod %s: %w", p.Id, err))
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove pod %s: %w", p.Id, err))
		}
	}
	return errors.Join(errs...)
}

// cgroupDirs lists, for each mounted hierarchy, the directory of each cluster cgroup root
// that exists.
func cgroupDirs(roots []string) []string {
	var dirs []string
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	hier = append(hier, "/sys/fs/cgroup")
	for _, h := range hier {
		for _, r := range roots {
			d := filepath.Join(h, r)
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// killCgroupProcs SIGKILLs every process in the cluster's cgroups: only pods' processes
// live there, and only when their runtime could not remove them.
func killCgroupProcs(roots []string) {
	for _, d := range cgroupDirs(roots) {
		_ = filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil //nolint:nilerr // a cgroup removed meanwhile has nothing to kill
			}
			b, _ := os.ReadFile(path) //nolint:gosec // cgroupfs has no symlinks, and root made these cgroups
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// removeCgroups removes the cluster's cgroup trees, children first.
func removeCgroups(roots []string) []error {
	var errs []error
	for _, d := range cgroupDirs(roots) {
		var dirs []string
		_ = filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, dir := range dirs {
			var err error
			// A cgroup whose last process just exited may be busy for a moment.
			for i := 0; i < 50; i++ {
				if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dir, err))
			}
		}
	}
	return errs
}

// unmountUnder unmounts every mount at or below the given dirs, deepest first.
func unmountUnder(dirs ...string) []error {
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		for _, d := range dirs {
			if m.Mountpoint == d || strings.HasPrefix(m.Mountpoint, d+"/") {
				return false, false
			}
		}
		return true, false
	})
	if err != nil {
		return []error{err}
	}
	// Deepest first; a mount point listed twice (stacked mounts) is unmounted twice.
	mounts := make([]string, 0, len(infos))
	for _, m := range infos {
		mounts = append(mounts, m.Mountpoint)
	}
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errs
}

// removeKubeletChains removes the chains kubelet makes in the host's iptables tables (its
// canary, which tells it that something flushed the tables, the hint of its mode, and
// KUBE-FIREWALL, which drops martian packets to 127/8) with the rules jumping to them.
func removeKubeletChains() []error {
	var errs []error
	chains := map[string]bool{"KUBE-FIREWALL": true, "KUBE-KUBELET-CANARY": true, "KUBE-IPTABLES-HINT": true}
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "mangle", "nat"} {
			out, err := exec.Command(bin, "-w", "-t", table, "-S").Output()
			if err != nil {
				continue // no such table here
			}
			var present []string
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) == 2 && f[0] == "-N" && chains[f[1]]:
					present = append(present, f[1])
				case len(f) >= 4 && f[0] == "-A" && !chains[f[1]] && f[len(f)-2] == "-j" && chains[f[len(f)-1]]:
					// A jump into one of them from another chain: delete that rule.
					if err := run(append([]string{bin, "-w", "-t", table, "-D"}, f[1:]...)...); err != nil {
						errs = append(errs, err)
					}
				}
			}
			for _, chain := range present {
				for _, op := range []string{"-F", "-X"} {
					if err := run(bin, "-w", "-t", table, op, chain); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
	}
	return errs
}
