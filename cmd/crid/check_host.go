package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/apparmor"
	"github.com/crid-dev/crid/cni"
	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/oci/kernel"
)

// `crid check` reports whether this host can run crid, one finding per line, like
// lxc-checkconfig and `docker info`. Every input is read below hostEnv's roots, so tests run
// the checks against a fake /proc, /sys and /etc.

// Check outcomes.
const (
	checkOK   = "OK"
	checkWarn = "WARN"
	checkFail = "FAIL" // something crid needs is missing: `crid check` exits non-zero
)

// finding is one line of the report.
type finding struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// hostEnv is where the checks read the host.
type hostEnv struct {
	Proc, Sys, Etc string // normally /proc, /sys, /etc
	RunSystemd     string // /run/systemd/system: exists when systemd is PID 1
	// Kernel runs the executor's kernel probe; an error says why it could not run.
	Kernel func() (kernel.Features, error)
	// AppArmorParser finds apparmor_parser.
	AppArmorParser func() (string, error)
}

func realHostEnv(monitor string) hostEnv {
	return hostEnv{Proc: "/proc", Sys: "/sys", Etc: "/etc", RunSystemd: "/run/systemd/system",
		AppArmorParser: apparmor.ParserPath,
		Kernel: func() (kernel.Features, error) {
			if monitor == "" {
				return kernel.Features{}, errors.New("crid-monitor not found")
			}
			dir, err := os.MkdirTemp("", "crid-check")
			if err != nil {
				return kernel.Features{}, err
			}
			defer func() { _ = os.RemoveAll(dir) }()
			f, probed := probeKernel(monitor, dir, discardLog())
			if probed == nil {
				return f, errors.New(f.Missing["probe"])
			}
			return f, nil
		}}
}

// minKernel is the oldest kernel crid supports (ARCHITECTURE: Debian 11's 5.10).
var minKernel = [2]int{5, 10}

// checkHost runs every check for cfg.
func checkHost(env hostEnv, cfg config.Config) []finding {
	var out []finding
	add := func(check, status, detail, fix string) {
		out = append(out, finding{Check: check, Status: status, Detail: detail, Fix: fix})
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}

	// Kernel version.
	rel := read(filepath.Join(env.Proc, "sys/kernel/osrelease"))
	if v, ok := parseKernel(rel); !ok {
		add("kernel", checkWarn, fmt.Sprintf("cannot read the release (%q)", rel), "")
	} else if v[0] < minKernel[0] || v[0] == minKernel[0] && v[1] < minKernel[1] {
		add("kernel", checkFail, rel+": older than 5.10", "run crid on Linux 5.10 or newer")
	} else {
		add("kernel", checkOK, rel, "")
	}

	// Namespaces: the kernel lists each type it has under /proc/self/ns.
	for _, ns := range []struct {
		name     string
		required bool
	}{{"mnt", true}, {"uts", true}, {"ipc", true}, {"pid", true}, {"net", true}, {"cgroup", false}, {"user", false}} {
		check := "namespace " + ns.name
		if _, err := os.Lstat(filepath.Join(env.Proc, "self/ns", ns.name)); err == nil {
			add(check, checkOK, "available", "")
		} else if ns.required {
			add(check, checkFail, "missing", "rebuild the kernel with CONFIG_"+strings.ToUpper(nsConfig(ns.name))+"=y")
		} else {
			add(check, checkWarn, "missing: pods asking for it fail", "enable CONFIG_"+strings.ToUpper(nsConfig(ns.name)))
		}
	}

	out = append(out, checkCgroups(env, cfg)...)

	// overlayfs: every container rootfs is an overlay.
	if strings.Contains(read(filepath.Join(env.Proc, "filesystems")), "\toverlay") {
		add("overlayfs", checkOK, "available", "")
	} else {
		add("overlayfs", checkFail, "not in /proc/filesystems", "modprobe overlay (and add it to /etc/modules)")
	}

	// What the executor's own probe finds (overlay mount method, idmapped mounts, ...).
	if k, err := env.Kernel(); err != nil {
		add("executor kernel probe", checkWarn, "could not run: "+err.Error(), "build crid-monitor next to crid (make build) or set monitor_path")
	} else {
		if err := k.Usable(); err != nil {
			add("executor kernel probe", checkFail, err.Error(), "see the missing interfaces: "+missingList(k))
		} else {
			add("executor kernel probe", checkOK, k.String(), "")
		}
		switch {
		case k.UserNamespaces:
			add("idmapped mounts", checkOK, "available; overlay on idmapped layers: "+string(k.IDMappedOverlay), "")
		case k.MountSetattr:
			add("idmapped mounts", checkWarn, "mount_setattr works but overlayfs cannot sit on idmapped layers: user-namespaced pods are not offered", "Linux 5.19 or newer")
		default:
			add("idmapped mounts", checkWarn, "not available: user-namespaced pods and recursive read-only mounts are not offered", "Linux 5.12 or newer (5.19 for user-namespaced pods)")
		}
	}

	// seccomp: RuntimeDefault and every Localhost profile need it.
	if acts := read(filepath.Join(env.Proc, "sys/kernel/seccomp/actions_avail")); acts != "" {
		add("seccomp", checkOK, "filter actions: "+acts, "")
	} else {
		add("seccomp", checkFail, "no seccomp filter support", "a kernel with CONFIG_SECCOMP_FILTER=y")
	}

	// LSMs: crid runs without them; say what a pod asking for one gets.
	if strings.HasPrefix(read(filepath.Join(env.Sys, "module/apparmor/parameters/enabled")), "Y") && fileExists(filepath.Join(env.Sys, "kernel/security/apparmor")) {
		if p, err := env.AppArmorParser(); err != nil {
			add("AppArmor", checkFail, "enabled, but crid cannot load its RuntimeDefault profile: "+err.Error(), "apt-get install apparmor")
		} else {
			add("AppArmor", checkOK, "enabled; profiles loaded with "+p, "")
		}
	} else {
		add("AppArmor", checkOK, "not enabled: RuntimeDefault means seccomp only, Localhost AppArmor profiles are refused", "")
	}
	switch read(filepath.Join(env.Sys, "fs/selinux/enforce")) {
	case "1":
		add("SELinux", checkWarn, "enforcing: crid does not label containers", "run in permissive mode or expect denials")
	case "0":
		add("SELinux", checkOK, "permissive", "")
	default:
		add("SELinux", checkOK, "not enabled", "")
	}

	// User namespaces.
	switch n := read(filepath.Join(env.Proc, "sys/user/max_user_namespaces")); n {
	case "":
		add("user namespaces", checkWarn, "no user namespace support", "a kernel with CONFIG_USER_NS=y")
	case "0":
		add("user namespaces", checkWarn, "user.max_user_namespaces is 0: user-namespaced pods fail", "sysctl -w user.max_user_namespaces=15000")
	default:
		add("user namespaces", checkOK, "max_user_namespaces="+n+subIDSummary(env.Etc), "")
	}

	// pids: a node runs many processes; kubelet's pod pids limits assume room.
	if n, err := strconv.Atoi(read(filepath.Join(env.Proc, "sys/kernel/pid_max"))); err != nil {
		add("pids", checkWarn, "cannot read kernel.pid_max", "")
	} else if n < 65536 {
		add("pids", checkWarn, fmt.Sprintf("kernel.pid_max=%d is low for a node", n), "sysctl -w kernel.pid_max=4194304")
	} else {
		add("pids", checkOK, fmt.Sprintf("kernel.pid_max=%d", n), "")
	}

	out = append(out, checkCNI(env, cfg)...)
	out = append(out, checkDirs(cfg)...)
	out = append(out, checkRuntimeHandlers(cfg)...)

	// Monitor binary: every pod runs one.
	p, err := findMonitor(cfg.MonitorPath)
	if err == nil {
		if err = unix.Access(p, unix.X_OK); err != nil {
			err = fmt.Errorf("%s is not executable: %w", p, err)
		}
	}
	if err != nil {
		add("crid-monitor", checkFail, err.Error(), "install crid-monitor next to crid (make install)")
	} else {
		add("crid-monitor", checkOK, p, "")
	}

	// A crid already serving this socket.
	if c, err := net.DialTimeout("unix", cfg.Listen, time.Second); err == nil {
		_ = c.Close()
		add("crid", checkOK, "running: "+cfg.Listen+" answers", "")
	} else {
		add("crid", checkOK, "not running on "+cfg.Listen, "")
	}
	return out
}

func nsConfig(ns string) string {
	if ns == "mnt" {
		return "namespaces"
	}
	return ns + "_ns"
}

func missingList(k kernel.Features) string {
	var m []string
	for p, why := range k.Missing {
		m = append(m, string(p)+": "+why)
	}
	slices.Sort(m)
	return strings.Join(m, "; ")
}

// parseKernel reads "6.1.0-18-amd64" as {6, 1}.
func parseKernel(rel string) ([2]int, bool) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return [2]int{}, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return [2]int{maj, minor}, err1 == nil && err2 == nil
}

// subIDSummary says how many subordinate uid ranges /etc/subuid lists (informational:
// crid allocates user-namespace ids itself).
func subIDSummary(etc string) string {
	f, err := os.Open(filepath.Join(etc, "subuid"))
	if err != nil {
		return ", no /etc/subuid"
	}
	defer func() { _ = f.Close() }()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return fmt.Sprintf(", %d subuid range(s)", n)
}

// checkCgroups reports the cgroup version, the controllers crid needs and, on v2, whether
// they are delegated to child cgroups.
func checkCgroups(env hostEnv, cfg config.Config) []finding {
	var out []finding
	add := func(check, status, detail, fix string) {
		out = append(out, finding{Check: check, Status: status, Detail: detail, Fix: fix})
	}
	root := filepath.Join(env.Sys, "fs/cgroup")
	words := func(p string) []string {
		b, _ := os.ReadFile(p)
		return strings.Fields(string(b))
	}
	var version string
	var avail, delegated []string
	switch {
	case fileExists(filepath.Join(root, "cgroup.controllers")):
		version = "v2 (unified)"
		avail = words(filepath.Join(root, "cgroup.controllers"))
		delegated = words(filepath.Join(root, "cgroup.subtree_control"))
	default:
		avail = v1Controllers(filepath.Join(env.Proc, "cgroups"))
		version = "v1"
		if fileExists(filepath.Join(root, "unified/cgroup.controllers")) {
			version = "v1 hybrid (v2 mounted at /sys/fs/cgroup/unified)"
		}
	}
	if len(avail) == 0 {
		add("cgroups", checkFail, "no cgroup hierarchy found", "mount cgroup2 at /sys/fs/cgroup (or the v1 controllers)")
		return out
	}
	add("cgroups", checkOK, version+"; controllers: "+strings.Join(avail, " "), "")
	for _, c := range []struct {
		names    []string
		required bool
	}{{[]string{"cpu"}, true}, {[]string{"memory"}, true}, {[]string{"pids"}, true}, {[]string{"cpuset"}, false}, {[]string{"io", "blkio"}, false}, {[]string{"hugetlb"}, false}} {
		name := strings.Join(c.names, "/")
		has := slices.ContainsFunc(c.names, func(n string) bool { return slices.Contains(avail, n) })
		switch {
		case has:
		case c.required:
			add("cgroup "+name, checkFail, "controller missing: limits kubelet sets cannot be enforced", "enable it (kernel config, cgroup_enable= on the kernel command line)")
		default:
			add("cgroup "+name, checkWarn, "controller missing: its limits and stats are skipped", "")
		}
	}
	if strings.HasPrefix(version, "v2") {
		var missing []string
		for _, c := range []string{"cpu", "memory", "pids"} {
			if slices.Contains(avail, c) && !slices.Contains(delegated, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			add("cgroup delegation", checkWarn, "not enabled in the root's cgroup.subtree_control: "+strings.Join(missing, " "),
				"crid enables them in the cgroups it makes; under systemd run crid with Delegate=yes (the shipped unit does)")
		} else {
			add("cgroup delegation", checkOK, "cpu memory pids enabled for child cgroups", "")
		}
	}
	if cfg.CgroupDriver == "systemd" && !fileExists(env.RunSystemd) {
		add("cgroup driver", checkFail, "cgroup_driver = \"systemd\" but systemd is not PID 1", "use cgroup_driver = \"cgroupfs\" (and kubelet --cgroup-driver=cgroupfs)")
	} else {
		add("cgroup driver", checkOK, cfg.CgroupDriver+" (kubelet's --cgroup-driver must match)", "")
	}
	return out
}

// v1Controllers lists the enabled controllers that are mounted, from /proc/cgroups.
func v1Controllers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var out []string
	for s := bufio.NewScanner(f); s.Scan(); {
		fields := strings.Fields(s.Text())
		// #subsys_name hierarchy num_cgroups enabled; hierarchy 0 = not mounted on v1.
		if len(fields) == 4 && !strings.HasPrefix(fields[0], "#") && fields[1] != "0" && fields[3] == "1" {
			out = append(out, fields[0])
		}
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// checkCNI reports the network config crid would load and whether its plugins are installed.
func checkCNI(env hostEnv, cfg config.Config) []finding {
	var out []finding
	add := func(status, detail, fix string) {
		out = append(out, finding{Check: "CNI", Status: status, Detail: detail, Fix: fix})
	}
	file, types, err := firstCNIConfig(cfg.CNIConfDir)
	switch {
	case err != nil:
		add(checkWarn, err.Error(), "fix or remove the file")
		return out
	case file == "" && !cfg.CNIWriteDefaultConfig:
		add(checkWarn, "no network config in "+cfg.CNIConfDir+": NetworkReady stays false", "install your cluster's CNI")
		return out
	case file == "" && !cfg.CNIDefaultInCluster && cni.KubeletClusterMode(env.Proc, filepath.Join(env.Etc, "kubernetes/kubelet.conf")):
		add(checkWarn, "no network config in "+cfg.CNIConfDir+" and kubelet runs in cluster mode: NetworkReady stays false until the cluster CNI installs its config", "install your cluster's CNI")
		return out
	case file == "":
		add(checkOK, "no config in "+cfg.CNIConfDir+": crid writes its default network ("+cni.DefaultConfigFile+", bridge crid0) at start", "")
		types = []string{"bridge", "host-local", "portmap", "loopback"}
	default:
		add(checkOK, "network config "+file, "")
	}
	var missing []string
	for _, t := range types {
		found := slices.ContainsFunc(cfg.CNIBinDirs, func(d string) bool { return fileExists(filepath.Join(d, t)) })
		if !found {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		out = append(out, finding{Check: "CNI plugins", Status: checkWarn, Detail: "not found in " + strings.Join(cfg.CNIBinDirs, ":") + ": " + strings.Join(missing, " "),
			Fix: "apt-get install containernetworking-plugins (or install your CNI's plugins)"})
	} else {
		out = append(out, finding{Check: "CNI plugins", Status: checkOK, Detail: strings.Join(types, " ") + " in " + strings.Join(cfg.CNIBinDirs, ":")})
	}
	return out
}

// firstCNIConfig returns the config file crid would load (the first by name, crid's own
// default only when it is alone, as package cni chooses) and its plugin types.
func firstCNIConfig(dir string) (string, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	var files []string
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if !strings.HasPrefix(e.Name(), ".") && (ext == ".conflist" || ext == ".conf" || ext == ".json") {
			files = append(files, e.Name())
		}
	}
	if len(files) > 1 {
		files = slices.DeleteFunc(files, func(f string) bool { return f == cni.DefaultConfigFile })
	}
	if len(files) == 0 {
		return "", nil, nil
	}
	path := filepath.Join(dir, files[0])
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	var conf struct {
		Type    string `json:"type"`
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		return "", nil, fmt.Errorf("network config %s does not parse: %v", path, err)
	}
	var types []string
	if conf.Type != "" {
		types = append(types, conf.Type)
	}
	for _, p := range conf.Plugins {
		types = append(types, p.Type)
	}
	return path, types, nil
}

// minFree is the free space below which a root or state dir is reported.
const minFree = 2 << 30

// checkDirs reports the root, state and socket dirs: where they are and the free space.
func checkDirs(cfg config.Config) []finding {
	var out []finding
	for _, d := range []struct{ check, path string }{{"root dir", cfg.Root}, {"state dir", cfg.State}, {"socket dir", filepath.Dir(cfg.Listen)}} {
		p := existingParent(d.path)
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err != nil {
			out = append(out, finding{Check: d.check, Status: checkFail, Detail: fmt.Sprintf("%s: %v", p, err), Fix: "create it or fix its parent"})
			continue
		}
		free := st.Bavail * uint64(st.Bsize)
		where := d.path
		if p != d.path {
			where += " (not there yet; crid makes it under " + p + ")"
		}
		detail := fmt.Sprintf("%s: %.1f GiB free", where, float64(free)/(1<<30))
		if unix.Access(p, unix.W_OK) != nil {
			out = append(out, finding{Check: d.check, Status: checkFail, Detail: detail + ", not writable", Fix: "run crid as root"})
		} else if free < minFree && d.check != "socket dir" {
			out = append(out, finding{Check: d.check, Status: checkWarn, Detail: detail, Fix: "free space: images and writable layers live here"})
		} else {
			out = append(out, finding{Check: d.check, Status: checkOK, Detail: detail})
		}
	}
	return out
}

// existingParent is path or its nearest existing ancestor.
func existingParent(path string) string {
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == "/" {
			return p
		}
	}
}
