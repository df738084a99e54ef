package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/oci/kernel"
)

// fakeHost writes files (path relative to the fake root -> content) and returns the env.
func fakeHost(t *testing.T, files map[string]string, k func() (kernel.Features, error)) hostEnv {
	t.Helper()
	root := t.TempDir()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return hostEnv{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"), Etc: filepath.Join(root, "etc"),
		RunSystemd: filepath.Join(root, "run/systemd/system"), Kernel: k,
		AppArmorParser: func() (string, error) { return "/sbin/apparmor_parser", nil }}
}

func mustWrite(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func allProbesWork() (kernel.Features, error) {
	errs := map[kernel.Probe]error{}
	for _, p := range kernel.AllProbes {
		errs[p] = nil
	}
	return kernel.Decide(kernel.Results{Release: "6.12.0", Errs: errs}), nil
}

// checkConfig is a config whose dirs are temp dirs, with CNI conf and bin dirs of its own.
func checkConfig(t *testing.T) config.Config {
	cfg := config.Default()
	dir := t.TempDir()
	cfg.Root, cfg.State = filepath.Join(dir, "root"), filepath.Join(dir, "state")
	cfg.Listen = filepath.Join(dir, "state", "crid.sock")
	cfg.CNIConfDir, cfg.CNIBinDirs = filepath.Join(dir, "net.d"), []string{filepath.Join(dir, "bin")}
	cfg.MonitorPath = "/bin/true"
	return cfg
}

func byCheck(fs []finding) map[string]finding {
	m := map[string]finding{}
	for _, f := range fs {
		m[f.Check] = f
	}
	return m
}

func wantStatus(t *testing.T, got map[string]finding, want map[string]string) {
	t.Helper()
	for check, status := range want {
		f, ok := got[check]
		if !ok {
			t.Errorf("no %q finding", check)
		} else if f.Status != status {
			t.Errorf("%s: %s (%s), want %s", check, f.Status, f.Detail, status)
		}
	}
}

// A cgroup v2 node with everything crid needs, a cluster CNI config and its plugins.
func TestCheckGoodV2Host(t *testing.T) {
	env := fakeHost(t, map[string]string{
		"proc/sys/kernel/osrelease": "6.12.0-1-amd64\n",
		"proc/self/ns/mnt":          "", "proc/self/ns/uts": "", "proc/self/ns/ipc": "", "proc/self/ns/pid": "",
		"proc/self/ns/net": "", "proc/self/ns/cgroup": "", "proc/self/ns/user": "",
		"proc/filesystems":                       "nodev\tproc\nnodev\toverlay\n",
		"proc/sys/kernel/seccomp/actions_avail":  "kill_process errno allow\n",
		"proc/sys/user/max_user_namespaces":      "63000\n",
		"proc/sys/kernel/pid_max":                "4194304\n",
		"sys/fs/cgroup/cgroup.controllers":       "cpuset cpu io memory hugetlb pids\n",
		"sys/fs/cgroup/cgroup.subtree_control":   "cpu io memory pids\n",
		"sys/module/apparmor/parameters/enabled": "Y\n",
		"sys/kernel/security/apparmor/profiles":  "",
		"etc/subuid":                             "kubelet:100000:65536\n",
	}, allProbesWork)
	cfg := checkConfig(t)
	mustWrite(t, filepath.Join(cfg.CNIConfDir, "10-flannel.conflist"), `{"name":"cbr0","plugins":[{"type":"flannel"},{"type":"portmap"}]}`, 0o644)
	for _, p := range []string{"flannel", "portmap"} {
		mustWrite(t, filepath.Join(cfg.CNIBinDirs[0], p), "", 0o755)
	}
	fs := checkHost(env, cfg)
	if err := failedChecks(fs); err != nil {
		t.Errorf("good host: %v\n%v", err, fs)
	}
	got := byCheck(fs)
	wantStatus(t, got, map[string]string{
		"kernel": checkOK, "namespace user": checkOK, "cgroups": checkOK, "cgroup delegation": checkOK, "overlayfs": checkOK,
		"executor kernel probe": checkOK, "idmapped mounts": checkOK, "seccomp": checkOK, "AppArmor": checkOK,
		"user namespaces": checkOK, "pids": checkOK, "CNI": checkOK, "CNI plugins": checkOK, "crid-monitor": checkOK, "crid": checkOK,
	})
	if !strings.Contains(got["cgroups"].Detail, "v2") || !strings.HasPrefix(got["AppArmor"].Detail, "enabled") ||
		!strings.Contains(got["CNI"].Detail, "10-flannel.conflist") || !strings.Contains(got["user namespaces"].Detail, "1 subuid") {
		t.Errorf("details: %+v", fs)
	}
}

// An old, stripped-down v1 host: each missing requirement is a FAIL with a fix.
func TestCheckBadHost(t *testing.T) {
	env := fakeHost(t, map[string]string{
		"proc/sys/kernel/osrelease": "4.19.0-21-amd64\n",
		"proc/self/ns/mnt":          "", "proc/self/ns/uts": "", "proc/self/ns/ipc": "", "proc/self/ns/net": "",
		"proc/filesystems":                  "nodev\tproc\n",
		"proc/cgroups":                      "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\nmemory\t3\t1\t1\npids\t0\t1\t1\n",
		"proc/sys/user/max_user_namespaces": "0\n",
		"proc/sys/kernel/pid_max":           "32768\n",
		"sys/fs/selinux/enforce":            "1\n",
	}, func() (kernel.Features, error) { return kernel.Features{}, errors.New("no crid-monitor") })
	cfg := checkConfig(t)
	cfg.CgroupDriver = "systemd"
	cfg.MonitorPath = filepath.Join(t.TempDir(), "crid-monitor")
	fs := checkHost(env, cfg)
	got := byCheck(fs)
	wantStatus(t, got, map[string]string{
		"kernel": checkFail, "namespace pid": checkFail, "namespace user": checkWarn, "cgroup pids": checkFail,
		"cgroup driver": checkFail, "overlayfs": checkFail, "seccomp": checkFail, "executor kernel probe": checkWarn,
		"SELinux": checkWarn, "user namespaces": checkWarn, "pids": checkWarn, "crid-monitor": checkFail,
		"CNI plugins": checkWarn,
	})
	for _, f := range fs {
		if f.Status == checkFail && f.Fix == "" {
			t.Errorf("%s fails without saying what to do", f.Check)
		}
	}
	if err := failedChecks(fs); err == nil || !strings.Contains(err.Error(), "7 check(s) failed") {
		t.Errorf("failedChecks: %v", err)
	}
	if _, ok := got["cgroup delegation"]; ok {
		t.Error("delegation reported on cgroup v1")
	}
}

// With kubelet in cluster mode and no CNI config, crid's default network is not promised.
func TestCheckCNIClusterMode(t *testing.T) {
	env := fakeHost(t, map[string]string{"etc/kubernetes/kubelet.conf": "apiVersion: v1\n"}, allProbesWork)
	if err := os.MkdirAll(env.Proc, 0o755); err != nil {
		t.Fatal(err)
	}
	got := byCheck(checkHost(env, checkConfig(t)))
	if f := got["CNI"]; f.Status != checkWarn || !strings.Contains(f.Detail, "cluster mode") {
		t.Errorf("CNI in cluster mode: %+v", f)
	}
}

// On this machine (cgroup v1 hybrid, no AppArmor): nothing crid needs is missing.
func TestCheckThisHost(t *testing.T) {
	env := realHostEnv("")
	env.Kernel = allProbesWork // the real probe needs the monitor binary: test/e2e runs it
	fs := checkHost(env, checkConfig(t))
	if err := failedChecks(fs); err != nil {
		t.Fatalf("%v\n%+v", err, fs)
	}
	got := byCheck(fs)
	if !strings.Contains(got["cgroups"].Detail, "v1 hybrid") && !strings.Contains(got["cgroups"].Detail, "v2") {
		t.Errorf("cgroups: %+v", got["cgroups"])
	}
	if got["kernel"].Status != checkOK || got["overlayfs"].Status != checkOK {
		t.Errorf("kernel/overlayfs: %+v", fs)
	}
}

// AppArmor on without apparmor_parser: crid cannot load its RuntimeDefault profile.
func TestCheckAppArmorWithoutParser(t *testing.T) {
	env := fakeHost(t, map[string]string{
		"sys/module/apparmor/parameters/enabled": "Y\n",
		"sys/kernel/security/apparmor/profiles":  "",
	}, allProbesWork)
	env.AppArmorParser = func() (string, error) { return "", errors.New("apparmor_parser not found") }
	if f := byCheck(checkHost(env, checkConfig(t)))["AppArmor"]; f.Status != checkFail || f.Fix == "" {
		t.Errorf("AppArmor without its parser: %+v", f)
	}
}

// An external handler's missing runtime is a WARN naming it (crid runs without it); a
// present one is OK; the built-in handler is not checked.
func TestCheckRuntimeHandlers(t *testing.T) {
	t.Parallel()
	present := filepath.Join(t.TempDir(), "runc")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := checkConfig(t)
	cfg.RuntimeHandlers = map[string]config.RuntimeHandler{
		"crid": {}, "runc": {RuntimePath: present}, "kata": {RuntimePath: "/nonexistent/kata-runtime"},
	}
	got := byCheck(checkRuntimeHandlers(cfg))
	wantStatus(t, got, map[string]string{"runtime handler runc": checkOK, "runtime handler kata": checkWarn})
	if _, ok := got["runtime handler crid"]; ok || len(got) != 2 {
		t.Errorf("findings %v: want runc and kata only", got)
	}
	if f := got["runtime handler kata"]; !strings.Contains(f.Detail, "/nonexistent/kata-runtime") || f.Fix == "" {
		t.Errorf("the kata finding %+v must name the binary and say what to do", f)
	}
}
