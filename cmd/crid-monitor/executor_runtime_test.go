package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/server"
)

// fakeRuntime is a runtime binary that records its arguments and fails the way runc does:
// an error line in the JSON --log file (or, with no --log, on stderr), exit 1.
const fakeRuntime = `#!/bin/sh
echo "$@" > "$ARGS_FILE"
log=
while [ $# -gt 0 ]; do [ "$1" = --log ] && log=$2; shift; done
if [ -n "$log" ] && [ -z "$NO_LOG" ]; then
	echo '{"level":"info","msg":"starting"}' >> "$log"
	echo '{"level":"error","msg":"container_linux.go: starting container process caused: boom"}' >> "$log"
else
	echo "stderr says boom" >&2
fi
exit 1
`

// runDirect runs a child with os.Process.Wait: these tests have no reaper.
func runDirect(_ context.Context, path string, args []string, attr *os.ProcAttr) (unix.WaitStatus, error) {
	p, err := os.StartProcess(path, args, attr)
	if err != nil {
		return 0, err
	}
	st, err := p.Wait()
	if err != nil {
		return 0, err
	}
	return unix.WaitStatus(st.Sys().(syscall.WaitStatus)), nil
}

func TestRuntimeCommandLineAndErrors(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-runc")
	if err := os.WriteFile(bin, []byte(fakeRuntime), 0o755); err != nil {
		t.Fatal(err)
	}
	argsFile := filepath.Join(dir, "args")
	t.Setenv("ARGS_FILE", argsFile)
	e := &runtimeExecutor{path: bin, root: "/run/r", args: []string{"--debug"}, run: func(ctx context.Context, path string, args []string, attr *os.ProcAttr) (unix.WaitStatus, error) {
		attr.Env = append(attr.Env, "ARGS_FILE="+argsFile, "NO_LOG="+os.Getenv("NO_LOG"))
		return runDirect(ctx, path, args, attr)
	}}
	rc := &runtimeContainer{id: "c1", bundle: dir, systemd: true}

	err := e.command(context.Background(), rc, server.Stdio{}, "start", "c1")
	if err == nil || !strings.Contains(err.Error(), "fake-runc start: exit status 1: container_linux.go: starting container process caused: boom") {
		t.Errorf("the runtime's logged error must be the command's error: %v", err)
	}
	if strings.Contains(err.Error(), "starting\"") {
		t.Errorf("info lines are not errors: %v", err)
	}
	b, _ := os.ReadFile(argsFile)
	want := "--debug --root /run/r --log " + filepath.Join(dir, "runtime.log") + " --log-format json --systemd-cgroup start c1"
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("runtime arguments:\n got %s\nwant %s", got, want)
	}
	// A second failure reports only its own log lines.
	if err := e.command(context.Background(), rc, server.Stdio{}, "delete", "c1"); strings.Count(err.Error(), "boom") != 1 {
		t.Errorf("an earlier command's log lines leak into the error: %v", err)
	}

	t.Setenv("NO_LOG", "1")
	if err := e.command(context.Background(), rc, server.Stdio{}, "kill", "c1"); err == nil || !strings.Contains(err.Error(), "stderr says boom") {
		t.Errorf("without log lines, the runtime's stderr is the error: %v", err)
	}
}

// An external runtime keeps state the monitor's C body does not know: such a pod never
// switches (server.Supervisable).
func TestRuntimeExecutorNeverSwitches(t *testing.T) {
	ex, _ := (&runtimeFlags{path: "/bin/true"}).executor(newExecutor(nil))
	if _, ok := ex.(server.Supervisable); ok {
		t.Fatal("the external runtime's executor is supervisable")
	}
	if _, ok := newExecutor(nil).(server.Supervisable); !ok {
		t.Fatal("the built-in executor is not supervisable")
	}
}

// The runtime's words for a process it cannot run (InvalidArgument), and others that
// only look alike (left internal).
func TestExecutableRefused(t *testing.T) {
	for msgs, want := range map[string]bool{
		`runc create failed: unable to start container process: exec: "/does-not-exist": stat /does-not-exist: no such file or directory`:                               true,
		`runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH`:                                                       true,
		`runc create failed: unable to start container process: exec: "/etc/passwd": permission denied`:                                                                 true,
		"executable file `nope` not found in $PATH: No such file or directory":                                                                                          true,
		`runc create failed: unable to start container process: error during container init: error mounting "/x" to rootfs at "/y": stat /x: no such file or directory`: false,
		"open executable: Input/output error":                         false,
		`exec: "sh": exec format error`:                               false,
		"container_linux.go: starting container process caused: boom": false,
	} {
		if got := executableRefused(msgs); got != want {
			t.Errorf("executableRefused(%q) = %v, want %v", msgs, got, want)
		}
	}
}
