package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The pod's pause is pid 1 of a shared PID namespace: a container of the pod
// with CAP_SYS_PTRACE reaches its root through /proc/1/root. That root must be
// an empty read-only one of its own, never the host's, and the pause must hold
// no capability, have no_new_privs and a seccomp filter. With and without the
// pod's user namespace.
func TestPauseCannotReachTheHost(t *testing.T) {
	requireRoot(t)
	secret := filepath.Join(tmpDir(t), "host-secret")
	if err := os.WriteFile(secret, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, userns := range []bool{false, true} {
		t.Run(map[bool]string{false: "host users", true: "user namespace"}[userns], func(t *testing.T) {
			if userns {
				requireUserNS(t)
			}
			infra := &specs.Spec{Hostname: "pod-" + randID()[:6], Linux: &specs.Linux{
				CgroupsPath: cgParent + "/pod" + randID(),
				Namespaces:  []specs.LinuxNamespace{{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}},
			}}
			maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}}
			if userns {
				infra.Linux.UIDMappings, infra.Linux.GIDMappings = maps, maps
				infra.Linux.Namespaces = append(infra.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			}
			pause, err := CreatePodInfra(context.Background(), infra, hostTree)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = unix.Kill(pause, unix.SIGKILL)
				waitExit(t, pause)
				_ = destroyCgroup(infra)
			})
			st := parseProcStatus(t, pause)
			for k, want := range map[string]string{"CapPrm": "0000000000000000", "CapEff": "0000000000000000",
				"CapBnd": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"} {
				if st[k] != want {
					t.Errorf("pause %s = %q, want %s", k, st[k], want)
				}
			}
			if mine, _ := os.Readlink("/proc/self/ns/mnt"); mine == "" || readlinkOr(t, pause, "ns/mnt") == mine {
				t.Errorf("the pause is in the host's mount namespace")
			}
			// A write that gets through lands in the test's temp dir.
			script := "ls -A /proc/1/root/ | wc -l; cat /proc/1/root" + secret + "; touch /proc/1/root" + secret + ".new && echo wrote; true"
			spec, rootfs := testSpec(t, "sh", "-c", script)
			caps := append(spec.Process.Capabilities.Bounding, "CAP_SYS_PTRACE", "CAP_SYS_ADMIN")
			spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
			spec.Hostname = ""
			spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
			kinds := []string{"ipc", "uts", "pid", "net"}
			if userns {
				kinds = append(kinds, "user")
				spec.Linux.UIDMappings, spec.Linux.GIDMappings = maps, maps
			}
			for _, k := range kinds {
				spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: nsTypes[k], Path: "/proc/" + itoa(pause) + "/ns/" + k})
			}
			ws, out := run(t, spec, rootfs)
			if ws.ExitStatus() != 0 {
				t.Fatalf("status %v: %s", ws, out)
			}
			if strings.Contains(out, "host data") || strings.Contains(out, "wrote") || !strings.HasPrefix(out, "0\n") {
				t.Fatalf("through the pause, a container of the pod saw: %q", out)
			}
		})
	}
}

var nsTypes = map[string]specs.LinuxNamespaceType{"ipc": specs.IPCNamespace, "uts": specs.UTSNamespace,
	"pid": specs.PIDNamespace, "net": specs.NetworkNamespace, "user": specs.UserNamespace}

func parseProcStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func readlinkOr(t *testing.T, pid int, rel string) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + itoa(pid) + "/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
