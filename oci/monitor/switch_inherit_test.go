package monitor

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// probe prints what a process inherited: its blocked and ignored signals and open fds.
const probe = `grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/self/fd | sort -n | tr '\n' ' '; echo`

// What a process started by a resumed monitor inherits across the execs of a switch:
// the signal mask, ignored signals and open fds a container or an exec starts with are
// those of one started before any switch (a blocked SIGTERM or SIGCHLD, or an ignored
// SIGPIPE, left by the C body would be a container that cannot be stopped or that
// cannot wait for its children; a leaked fd, a handover memfd or socket inside it).
func TestSwitchChildrenInheritNothing(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		inherited(t, b, c, stateDir, func(id, logPath string) {
			run(t, c, id, probe+"; exec sleep 1000", CreateRequest{LogPath: logPath})
		})
	})
}

// The same with the OCI executor, which must also give a container what containerd's
// shims give it: no signal blocked or ignored.
func TestOCISwitchChildrenInheritNothing(t *testing.T) {
	requireOCI(t)
	forBodiesOf(t, ociEnv.binary, func(t *testing.T, b body) {
		c, stateDir := b.start(t, ociEnv.binary, func(*StartOptions) {})
		want := inherited(t, b, c, stateDir, func(id, logPath string) {
			spec, rootfs := bbSpec(t, "sh", "-c", probe+"; exec sleep 1000")
			if _, err := c.Create(ctxT(t), CreateRequest{ID: id, Spec: spec, Rootfs: rootfs, LogPath: logPath}); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
		})
		if !strings.HasPrefix(want, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n") {
			t.Errorf("a container starts with\n%s\nwant no signal blocked or ignored", want)
		}
	})
}

// inherited starts a container before and one after a switch and an exec after one;
// it returns what the first inherited, the others must have inherited the same.
func inherited(t *testing.T, b body, c *Client, stateDir string, start func(id, logPath string)) string {
	t.Helper()
	dir := t.TempDir()
	probed := func(id string) string {
		logPath := filepath.Join(dir, id+".log")
		start(id, logPath)
		waitFor(t, logPath, func() bool { return len(logEntries(t, logPath)) >= 3 })
		return strings.ReplaceAll(strings.Join(logEntries(t, logPath), "\n"), "stdout F ", "") + "\n"
	}
	want := probed("before")
	b.waitSwitched(t, stateDir, b.mark(t, stateDir))
	if got := probed("after"); got != want {
		t.Errorf("a container started after a switch starts with\n%s\nwant (as before any switch)\n%s", got, want)
	}
	b.waitSwitched(t, stateDir, b.mark(t, stateDir))
	var out bytes.Buffer
	code, err := c.Exec(ctxT(t), ExecRequest{ContainerID: "after", Process: &specs.Process{Args: []string{"/bin/sh", "-c", probe}, Env: []string{"PATH=/bin:/usr/bin"}, Cwd: "/"}, Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	// The exec's own fds may differ (its stdio are pipes); its signals may not.
	sig := strings.Join(strings.SplitN(want, "\n", 3)[:2], "\n")
	if !strings.HasPrefix(out.String(), sig) {
		t.Errorf("an exec after a switch starts with\n%s\nwant the signals of a container\n%s", out.String(), sig)
	}
	return want
}
