package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/ocihooks"
)

// hookWait takes a hook's exit from the test binary's reaper, which collects every child.
func hookWait(t testing.TB) ocihooks.Waiter {
	return func(cmd *exec.Cmd) error {
		if err := cmd.Start(); err != nil {
			return err
		}
		ws := waitExit(t, cmd.Process.Pid)
		_ = cmd.Wait() // releases the pipes; the exit is the reaper's
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fmt.Errorf("hook exit %v", ws)
		}
		return nil
	}
}

// markHook appends "<stage> <mount ns> <state JSON>" to out: where it ran, and what it got.
func markHook(stage, out string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `echo "$0 $(readlink /proc/self/ns/mnt) $(cat)" >> "$1"`, stage, out}}
}

// TestHookStages: each create and start stage runs at its point, in its namespaces
// (runtime spec, POSIX-platform hooks), with the state on stdin.
func TestHookStages(t *testing.T) {
	requireRoot(t)
	hostNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	marks := filepath.Join(tmpDir(t), "marks")
	spec, rootfs := testSpec(t, "cat", "/tmp/started")
	spec.Annotations = map[string]string{"io.example/hooked": "yes"}
	spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{markHook("prestart", marks)}, //nolint:staticcheck // deprecated, still run
		CreateRuntime:   []specs.Hook{markHook("createRuntime", marks)},
		CreateContainer: []specs.Hook{markHook("createContainer", marks)},
		// After pivot_root: the container's /bin/sh and /tmp.
		StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > /tmp/started"}}},
	}
	c := create(t, spec, rootfs)
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("create hooks ran %d times:\n%s", len(lines), b)
	}
	for i, want := range []struct {
		stage  string
		inHost bool
	}{{"prestart", true}, {"createRuntime", true}, {"createContainer", false}} {
		f := strings.SplitN(lines[i], " ", 3)
		if len(f) != 3 || f[0] != want.stage {
			t.Fatalf("line %d: %q, want stage %s", i, lines[i], want.stage)
		}
		if (f[1] == hostNS) != want.inHost {
			t.Errorf("%s ran in mount namespace %s (the runtime's: %s)", f[0], f[1], hostNS)
		}
		var st specs.State
		if err := json.Unmarshal([]byte(f[2]), &st); err != nil {
			t.Fatalf("%s state %q: %v", f[0], f[2], err)
		}
		if st.Status != specs.StateCreating || st.Pid != c.Pid || st.Annotations["io.example/hooked"] != "yes" {
			t.Errorf("%s state %+v (init pid %d)", f[0], st, c.Pid)
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, c.Pid)
	out, _ := os.ReadFile(c.out)
	var st specs.State
	if err := json.Unmarshal(out, &st); err != nil || st.Status != specs.StateCreated || st.Pid != c.Pid {
		t.Errorf("startContainer hook, seen by the container: %q (%v)", out, err)
	}
}

// TestFailingHookRollsBack: a failing create hook fails Create naming it and leaves no
// cgroup; a failing startContainer hook fails Start and the process never runs.
func TestFailingHookRollsBack(t *testing.T) {
	requireRoot(t)
	fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo refused by policy >&2; exit 7"}}
	for _, stage := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(stage, func(t *testing.T) {
			spec, rootfs := testSpec(t, "true")
			spec.Hooks = &specs.Hooks{}
			*map[string]*[]specs.Hook{
				"prestart": &spec.Hooks.Prestart, "createRuntime": &spec.Hooks.CreateRuntime, //nolint:staticcheck // deprecated, still run
				"createContainer": &spec.Hooks.CreateContainer,
			}[stage] = []specs.Hook{fail}
			_, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs, HookWait: hookWait(t)})
			if err == nil || !strings.Contains(err.Error(), stage+" hook") || !strings.Contains(err.Error(), "refused by policy") {
				t.Fatalf("Create: %v", err)
			}
			p, _ := cgPath(spec)
			if d := hostTree.Dirs(p); len(d) != 0 {
				t.Errorf("a failed create left cgroups: %v", d)
			}
		})
	}
	t.Run("startContainer", func(t *testing.T) {
		marker := filepath.Join(tmpDir(t), "ran")
		spec, rootfs := testSpec(t, "sh", "-c", "echo ran")
		spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{fail}}
		f, err := os.Create(marker)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs, Stdio: Stdio{Stdout: f}, HookWait: hookWait(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = destroyCgroup(spec) })
		if err := c.Start(); err == nil || !strings.Contains(err.Error(), "refused by policy") {
			t.Fatalf("Start: %v", err)
		}
		waitExit(t, c.Pid)
		if b, _ := os.ReadFile(marker); len(b) != 0 {
			t.Errorf("the process ran after its startContainer hook failed: %q", b)
		}
	})
}
