package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// procBinary is crid-monitor built with the process executor: containers are
// plain processes, so these tests run without root and without package oci.
var procBinary string

// raceFlags are extra build flags for those binaries (race_test.go).
var raceFlags []string

// staticFlags link the real monitor statically, as `make build` does, so that the memory
// figures of TestMonitorMemory are those of the binary users run.
var staticFlags = []string{"-tags", "netgo,osusergo", "-ldflags", "-extldflags -static"}

func TestMain(m *testing.M) {
	// The helper daemon of TestSpareExitsWithoutDaemon (this binary run again) needs no
	// binary of its own and dies by SIGKILL, which would leave the temp dir behind.
	if os.Getenv(spareHelperEnv) != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "crid-monitor-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	procBinary = filepath.Join(dir, "crid-monitor-proc")
	out, err := exec.Command("go", append(append([]string{"build"}, raceFlags...), "-tags", "crid_procexec", "-o", procBinary, "github.com/crid-dev/crid/cmd/crid-monitor")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building crid-monitor: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	cleanupOCIEnv()
	os.RemoveAll(dir)
	os.Exit(code)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startMonitor starts a monitor for a fresh pod and makes sure it and everything
// it started are gone when the test ends, whatever happened.
func startMonitor(t *testing.T, binary string) (*Client, string) {
	t.Helper()
	return startMonitorWith(t, binary, func(*StartOptions) {})
}

// startMonitorWith is startMonitor with options set by opt.
func startMonitorWith(t *testing.T, binary string, opt func(*StartOptions)) (*Client, string) {
	t.Helper()
	stateDir := t.TempDir()
	opts := StartOptions{PodID: "pod-" + filepath.Base(stateDir), StateDir: stateDir, Binary: binary, LogLevel: "debug"}
	opt(&opts)
	c, err := Start(ctxT(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if b, err := os.ReadFile(api.LogPath(stateDir)); err == nil && bytes.Contains(b, []byte("DATA RACE")) {
			t.Errorf("the monitor has a data race:\n%s", b)
		}
		if cc, err := Connect(ctx, stateDir); err == nil {
			if err := cc.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
		c.Close()
		if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if t.Failed() {
			if b, err := os.ReadFile(api.LogPath(stateDir)); err == nil {
				t.Logf("monitor log:\n%s", b)
			}
		}
	})
	return c, stateDir
}

func shSpec(script string) *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Cwd: "/"},
		Root:    &specs.Root{Path: "/"},
		Linux:   &specs.Linux{},
	}
}

func waitExit(t *testing.T, c *Client, id string) *State {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case st, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed waiting for %s", id)
			}
			if st.ID == id {
				return st
			}
		case <-timeout:
			t.Fatalf("no exit event for %s", id)
		}
	}
}

func run(t *testing.T, c *Client, id, script string, req CreateRequest) int {
	t.Helper()
	req.ID, req.Spec = id, shSpec(script)
	pid, err := c.Create(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.State(ctxT(t), id)
	if err != nil || st.Status != "created" || st.Pid != pid {
		t.Fatalf("state after create %+v %v", st, err)
	}
	if err := c.Start(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestLifecycleLogsAndExitCode(t *testing.T) {
	c, stateDir := startMonitor(t, procBinary)
	logPath := filepath.Join(t.TempDir(), "c1.log")
	run(t, c, "c1", `echo out; echo err >&2; printf partial; exit 3`, CreateRequest{LogPath: logPath})
	ev := waitExit(t, c, "c1")
	if ev.Status != "stopped" || ev.ExitCode != 3 || ev.FinishedAt.IsZero() || ev.StartedAt.IsZero() {
		t.Fatalf("exit event %+v", ev)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.SplitN(line, " ", 2)
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Errorf("timestamp of %q: %v", line, err)
		}
		got = append(got, f[1])
	}
	// stdout and stderr are separate pipes: their relative order is not fixed.
	want := map[string]bool{"stdout F out": true, "stderr F err": true, "stdout P partial": true}
	if len(got) != 3 {
		t.Fatalf("log %q", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected log entry %q in %q", g, got)
		}
	}
	// The exit is on disk, atomically written.
	rec, err := api.ReadRecord(api.ContainerDir(stateDir, "c1"))
	if err != nil || rec.ExitCode != 3 || rec.Status != "stopped" {
		t.Fatalf("record %+v %v", rec, err)
	}
	list, err := c.List(ctxT(t))
	if err != nil || len(list) != 1 || list[0].ID != "c1" {
		t.Fatalf("list %+v %v", list, err)
	}
	if err := c.Start(ctxT(t), "c1"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("start of a stopped container: %v", err)
	}
	if err := c.Delete(ctxT(t), "c1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctxT(t), "c1"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := c.State(ctxT(t), "c1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("state after delete: %v", err)
	}
	if _, err := os.Stat(api.ContainerDir(stateDir, "c1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("container dir left: %v", err)
	}
}

func TestErrors(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	ctx := ctxT(t)
	if _, err := c.State(ctx, "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("state: %v", err)
	}
	if err := c.Kill(ctx, "nope", syscall.SIGTERM, false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("kill: %v", err)
	}
	if _, err := c.Create(ctx, CreateRequest{ID: "../x", Spec: shSpec("true")}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("create with a bad id: %v", err)
	}
	run(t, c, "c", "sleep 100", CreateRequest{})
	if _, err := c.Create(ctx, CreateRequest{ID: "c", Spec: shSpec("true")}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second create: %v", err)
	}
	if err := c.Delete(ctx, "c"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("delete while running: %v", err)
	}
	if _, err := c.Exec(ctx, ExecRequest{ContainerID: "nope", Process: &specs.Process{Args: []string{"true"}}}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("exec: %v", err)
	}
}

func TestKill(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	ctx := ctxT(t)
	// The shell says when its trap is in place: a TERM before that kills it (143).
	trapped := filepath.Join(t.TempDir(), "trapped")
	run(t, c, "term", `trap 'exit 0' TERM; : >`+trapped+`; sleep 100 & wait`, CreateRequest{})
	waitFor(t, "the shell's TERM trap", func() bool { return exists(trapped) })
	if err := c.Kill(ctx, "term", syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c, "term"); st.ExitCode != 0 {
		t.Errorf("trapped TERM exit %d", st.ExitCode)
	}
	run(t, c, "k", "sleep 100", CreateRequest{})
	if err := c.Kill(ctx, "k", syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c, "k"); st.ExitCode != 137 {
		t.Errorf("SIGKILL exit %d, want 137", st.ExitCode)
	}
	if err := c.Kill(ctx, "k", syscall.SIGKILL, false); err != nil {
		t.Errorf("kill of a stopped container: %v", err)
	}
}

func TestExec(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	run(t, c, "c", "sleep 100", CreateRequest{})
	ctx := ctxT(t)
	var out, errb bytes.Buffer
	code, err := c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"/bin/sh", "-c", "echo hi; echo oops >&2; exit 5"}, Cwd: "/"}, Stdout: &out, Stderr: &errb})
	if err != nil || code != 5 || out.String() != "hi\n" || errb.String() != "oops\n" {
		t.Fatalf("exec: code %d err %v stdout %q stderr %q", code, err, out.String(), errb.String())
	}
	// stdin streams in and its EOF reaches the process.
	out.Reset()
	code, err = c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"/bin/cat"}, Cwd: "/"}, Stdin: strings.NewReader("ping\n"), Stdout: &out})
	if err != nil || code != 0 || out.String() != "ping\n" {
		t.Fatalf("exec cat: code %d err %v stdout %q", code, err, out.String())
	}
	// A large output arrives whole.
	out.Reset()
	code, err = c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"/bin/sh", "-c", "head -c 1000000 /dev/zero"}, Cwd: "/"}, Stdout: &out})
	if err != nil || code != 0 || out.Len() != 1000000 {
		t.Fatalf("exec large: code %d err %v %d bytes", code, err, out.Len())
	}
	// With a terminal the process sees a tty.
	out.Reset()
	code, err = c.Exec(ctx, ExecRequest{ContainerID: "c", Terminal: true, Process: &specs.Process{Args: []string{"/bin/sh", "-c", "test -t 0 && test -t 1 && echo tty"}, Cwd: "/"}, Stdout: &out})
	if err != nil || code != 0 || !strings.Contains(out.String(), "tty") {
		t.Fatalf("exec tty: code %d err %v stdout %q", code, err, out.String())
	}
	// Cancelling the context kills the process.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	secs := ownSleep(1)
	_, err = c.Exec(cctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"/bin/sleep", secs}, Cwd: "/"}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(begin) > 5*time.Second {
		t.Fatalf("cancelled exec: %v after %v", err, time.Since(begin))
	}
	// The killed sleep is gone from the container's process group (SIGKILL lands when
	// the process next runs, which a busy machine may delay).
	waitFor(t, "the killed 'sleep "+secs+"' to be gone", func() bool { return countProcs(t, secs) == 0 })
}

// ownSleep is a sleep duration (seconds) that no other process of the host uses: countProcs
// looks at every process, and on a shared machine another run of these very tests (another
// checkout's go test, make test) may be sleeping beside this one. base tells this
// process's tests apart.
func ownSleep(base int) string {
	return strconv.Itoa(base*10_000_000 + os.Getpid()) // pids stay below 2^22
}

// countProcs counts processes whose command line ends with arg.
func countProcs(t *testing.T, arg string) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if bytes.HasSuffix(b, []byte("sleep\x00"+arg+"\x00")) && !isZombie(st) {
			n++
		}
	}
	return n
}

func TestAttach(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	logPath := filepath.Join(t.TempDir(), "log")
	run(t, c, "c", `read line; echo "got $line"; read more || echo eof; exit 4`, CreateRequest{Stdin: true, StdinOnce: true, LogPath: logPath})
	var out bytes.Buffer
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Attach(ctxT(t), "c", pr, &out, io.Discard, nil) }()
	_, _ = pw.Write([]byte("hello\n"))
	pw.Close() // stdin EOF: with StdinOnce the container's stdin closes
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("attach did not end with the container")
	}
	if st := waitExit(t, c, "c"); st.ExitCode != 4 {
		t.Errorf("exit %d", st.ExitCode)
	}
	// The output may be sent before the attach joined; the log has all of it.
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "stdout F got hello") || !strings.Contains(string(b), "stdout F eof") {
		t.Errorf("log %q", b)
	}
	if out.Len() > 0 && !strings.Contains(out.String(), "got hello") {
		t.Errorf("attach output %q", out.String())
	}
	if err := c.Attach(ctxT(t), "c", nil, &out, nil, nil); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("attach to a stopped container: %v", err)
	}
}

func TestAttachFanOut(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	// The container writes once it read a line from each client: a client's stdin
	// reaches it only after the monitor joined that client to the output (serveAttach
	// answers after joining, and the client sends stdin only after the answer), so
	// both are attached when it writes.
	run(t, c, "c", `read x; read y; echo "line $x$y"; sleep 0.2; exit 0`, CreateRequest{Stdin: true})
	var a, b bytes.Buffer
	ctx := ctxT(t)
	errs := make(chan error, 2)
	pra, pwa := io.Pipe()
	go func() { errs <- c.Attach(ctx, "c", pra, &a, nil, nil) }()
	prb, pwb := io.Pipe()
	go func() { errs <- c.Attach(ctx, "c", prb, &b, nil, nil) }()
	// Both halves are one word so that either order of arrival reads the same.
	_, _ = pwa.Write([]byte("one\n"))
	_, _ = pwb.Write([]byte("one\n"))
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	pwa.Close()
	pwb.Close()
	if a.String() != "line oneone\n" || b.String() != "line oneone\n" {
		t.Errorf("attach outputs %q %q", a.String(), b.String())
	}
}

func TestSurvivesClientAndReplaysExit(t *testing.T) {
	c, stateDir := startMonitor(t, procBinary)
	run(t, c, "c", `sleep 0.3; exit 7`, CreateRequest{})
	c.Close() // crid goes away
	time.Sleep(time.Second)
	c2, err := Connect(ctxT(t), stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if st := waitExit(t, c2, "c"); st.ExitCode != 7 {
		t.Errorf("replayed exit %+v", st)
	}
	st, err := c2.State(ctxT(t), "c")
	if err != nil || st.Status != "stopped" || st.ExitCode != 7 {
		t.Errorf("state %+v %v", st, err)
	}
}

func TestCleanupAfterMonitorKilled(t *testing.T) {
	c, stateDir := startMonitor(t, procBinary)
	// exec: the recorded pid is the only process (no cgroup to destroy here).
	pid := run(t, c, "c", "exec sleep 1000", CreateRequest{})
	mpid, _, err := api.ReadPidFile(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(mpid, syscall.SIGKILL)
	// The events channel closes once the monitor is gone.
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-c.Events():
		case <-timeout:
			t.Fatal("events still open")
		}
	}
	if _, err := Connect(ctxT(t), stateDir); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("connect to a dead monitor: %v", err)
	}
	// The old client's kept connection is dead too.
	if _, err := c.State(ctxT(t), "c"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("state from a dead monitor: %v", err)
	}
	if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
		t.Fatal(err)
	}
	if st, err := api.ProcStartTime(pid); err == nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if !isZombie(b) {
			t.Errorf("container process %d (start %d) survived Cleanup", pid, st)
		}
	}
	if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
		t.Errorf("second cleanup: %v", err)
	}
	if _, err := os.Stat(api.Dir(stateDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("monitor dir left: %v", err)
	}
}

func TestShutdown(t *testing.T) {
	c, stateDir := startMonitor(t, procBinary)
	pid := run(t, c, "c", "sleep 1000", CreateRequest{})
	if _, err := c.CreatePodInfra(ctxT(t), PodInfraRequest{Spec: &specs.Spec{Linux: &specs.Linux{}}}); err != nil {
		t.Fatal(err)
	}
	mpid, _, _ := api.ReadPidFile(stateDir)
	if err := c.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if _, err := api.ProcStartTime(mpid); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", mpid)); err == nil {
		t.Errorf("monitor %d still runs", mpid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if !isZombie(b) {
			t.Errorf("container %d still runs", pid)
		}
	}
	if _, err := os.Stat(api.Dir(stateDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("monitor dir left: %v", err)
	}
}

func TestStartTwiceConnects(t *testing.T) {
	c, stateDir := startMonitor(t, procBinary)
	mpid, _, _ := api.ReadPidFile(stateDir)
	c2, err := Start(ctxT(t), StartOptions{PodID: "again", StateDir: stateDir, Binary: procBinary})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if pid, _, _ := api.ReadPidFile(stateDir); pid != mpid {
		t.Errorf("a second monitor %d replaced %d", pid, mpid)
	}
	_ = c
}

func TestStartFailureIsReported(t *testing.T) {
	// A state dir that cannot be created: the monitor says why on the readiness pipe.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(ctxT(t), StartOptions{PodID: "p", StateDir: filepath.Join(f, "pod"), Binary: procBinary})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("start in a bad dir: %v", err)
	}
}

// TestManyExits: exits of many containers and execs at once, each reported once
// with its own code (run with -race).
func TestManyExits(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	const n = 20
	for i := 0; i < n; i++ {
		run(t, c, fmt.Sprintf("c%02d", i), fmt.Sprintf("sleep 0.2; exit %d", i), CreateRequest{LogPath: filepath.Join(t.TempDir(), "log")})
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := c.Exec(ctxT(t), ExecRequest{ContainerID: fmt.Sprintf("c%02d", i), Process: &specs.Process{Args: []string{"/bin/sh", "-c", fmt.Sprintf("exit %d", i+1)}, Cwd: "/"}})
			// The container may exit first: then it is not running any more.
			if err == nil && code != i+1 {
				t.Errorf("exec %d: code %d", i, code)
			}
		}()
	}
	got := map[string]int32{}
	for len(got) < n {
		select {
		case st := <-c.Events():
			got[st.ID] = st.ExitCode
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d exits", len(got), n)
		}
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if code := got[fmt.Sprintf("c%02d", i)]; code != int32(i) {
			t.Errorf("c%02d: exit %d", i, code)
		}
	}
}

func TestReopenLog(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	logPath := filepath.Join(t.TempDir(), "log")
	run(t, c, "c", `i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); sleep 0.01; done`, CreateRequest{LogPath: logPath})
	// Rotate once the first line is logged, as the assertions below expect.
	waitFor(t, "line0 in the log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "stdout F line0\n")
	})
	// kubelet's rotation: rename, then ReopenLog.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := c.ReopenLog(ctxT(t), "c"); err != nil {
		t.Fatal(err)
	}
	waitExit(t, c, "c")
	old, _ := os.ReadFile(logPath + ".1")
	cur, _ := os.ReadFile(logPath)
	if !strings.Contains(string(old), "stdout F line0\n") || !strings.Contains(string(cur), "stdout F line199\n") {
		t.Fatalf("rotated %d bytes, current %d bytes", len(old), len(cur))
	}
	// No line is lost or doubled across the rotation.
	all := strings.Count(string(old), " F line") + strings.Count(string(cur), " F line")
	if all != 200 {
		t.Errorf("%d lines across both files, want 200", all)
	}
	if err := c.ReopenLog(ctxT(t), "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("reopen of an unknown container: %v", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	c, _ := startMonitor(t, procBinary)
	run(t, c, "c", "sleep 100", CreateRequest{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if st, err := c.State(ctxT(t), "c"); err != nil || st.Status != "running" {
					t.Errorf("state %+v %v", st, err)
					return
				}
				if _, err := c.State(ctxT(t), "nope"); !errors.Is(err, errdefs.ErrNotFound) {
					t.Errorf("state of an unknown id: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMaxLogLine(t *testing.T) {
	stateDir := t.TempDir()
	c, err := Start(ctxT(t), StartOptions{PodID: "p", StateDir: stateDir, Binary: procBinary, MaxLogLine: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown(context.Background()); _ = Cleanup(stateDir, cgroups.HostTree()) })
	logPath := filepath.Join(t.TempDir(), "log")
	run(t, c, "c", "echo abcdefghij", CreateRequest{LogPath: logPath})
	waitExit(t, c, "c")
	b, _ := os.ReadFile(logPath)
	if n := strings.Count(string(b), " stdout P "); n != 2 || !strings.Contains(string(b), " stdout F ij\n") {
		t.Errorf("log %q", b)
	}
}

func TestConnectToStoppedMonitor(t *testing.T) {
	defer func(d time.Duration) { connectTimeout = d }(connectTimeout)
	connectTimeout = 500 * time.Millisecond
	c, stateDir := startMonitor(t, procBinary)
	c.Close()
	mpid, _, _ := api.ReadPidFile(stateDir)
	syscall.Kill(mpid, syscall.SIGSTOP)
	defer syscall.Kill(mpid, syscall.SIGCONT)
	waitStopped(t, mpid)
	if _, err := Connect(ctxT(t), stateDir); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("connect to a stopped monitor: %v", err)
	}
}

// waitStopped waits until every thread of process pid is stopped. kill(SIGSTOP) returns
// before that: the thread the signal is given to stops the others only once it runs, and
// on a busy machine the others meanwhile go on, e.g. answering a connect.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	ctx := ctxT(t)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := 0
		for _, p := range stats {
			b, err := os.ReadFile(p)
			// The state follows the command name, which is in parentheses.
			if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && len(b) > i+2 && b[i+2] == 'T' {
				stopped++
			}
		}
		if len(stats) > 0 && stopped == len(stats) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("process %d: %d of its %d threads stopped after SIGSTOP", pid, stopped, len(stats))
		case <-tick.C:
		}
	}
}
