package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// spareBinary is procBinary under a name of the test's own: its spares are the
// processes whose argv[0] it is.
func spareBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "crid-monitor-spare")
	if err := os.Symlink(procBinary, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// processesOf lists the pids whose argv[0] is bin, with their command lines.
func processesOf(t *testing.T, bin string) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if args[0] == bin {
			out[pid] = args
		}
	}
	return out
}

// waitNoProcessOf fails unless every process of bin is gone within 10 s.
func waitNoProcessOf(t *testing.T, bin string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processesOf(t, bin)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanupPod shuts down the monitor of stateDir, if any, and cleans up after it.
func cleanupPod(t *testing.T, stateDir string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if cc, err := Connect(ctx, stateDir); err == nil {
			if err := cc.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			cc.Close()
		}
		if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if t.Failed() {
			if b, err := os.ReadFile(api.LogPath(stateDir)); err == nil {
				t.Logf("monitor log:\n%s", b)
			}
		}
	})
}

// adoptSpare starts a spare of opts and adopts it for a fresh pod, whose monitor is
// shut down and cleaned up after the test.
func adoptSpare(t *testing.T, opts StartOptions) (c *Client, podID, stateDir string) {
	t.Helper()
	stateDir = t.TempDir()
	podID = "pod-" + filepath.Base(stateDir)
	return adoptSpareIn(t, opts, podID, stateDir), podID, stateDir
}

// adoptSpareIn is adoptSpare for podID in stateDir.
func adoptSpareIn(t *testing.T, opts StartOptions, podID, stateDir string) *Client {
	t.Helper()
	s, err := StartSpare(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cleanupPod(t, stateDir)
	c, err := s.Adopt(ctxT(t), podID, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSpareAdopt: an adopted spare is the pod's monitor as a started one is: detached
// into its own session, its pid file and socket in the pod's state dir, running the
// pod's processes, and shown by ps as "crid-monitor monitor <pod id> --state-dir DIR",
// which the idle switch execs again.
func TestSpareAdopt(t *testing.T) {
	bin := spareBinary(t)
	c, podID, stateDir := adoptSpare(t, StartOptions{Binary: bin, LogLevel: "debug"})
	run(t, c, "c1", "exit 3", CreateRequest{})
	if st := waitExit(t, c, "c1"); st.ExitCode != 3 {
		t.Errorf("exit %+v, want code 3", st)
	}
	pid, _, err := api.ReadPidFile(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if ppid, sid := procParentSession(t, pid); ppid == os.Getpid() || sid != pid {
		t.Errorf("adopted monitor %d: parent %d, session %d; want detached in its own", pid, ppid, sid)
	}
	want := []string{bin, "monitor", podID, "--state-dir", stateDir, "--log-level", "debug"}
	if got := processesOf(t, bin)[pid]; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("adopted monitor's command line %q, want %q", got, want)
	}
}

// TestSpareAdoptLongStateDir: a spare adopted for a state dir longer than its room
// (api.SpareRoom) is the pod's monitor all the same, and its log says why ps shows it
// as the spare it was.
func TestSpareAdoptLongStateDir(t *testing.T) {
	bin := spareBinary(t)
	stateDir := filepath.Join(t.TempDir(), strings.Repeat("d", 200), strings.Repeat("e", 200))
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := adoptSpareIn(t, StartOptions{Binary: bin}, "long", stateDir)
	run(t, c, "c1", "exit 0", CreateRequest{})
	waitExit(t, c, "c1")
	pid, _, err := api.ReadPidFile(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := processesOf(t, bin)[pid]; len(got) < 2 || got[1] != api.SpareArg {
		t.Errorf("command line %q: rewritten past the spare's room?", got)
	}
	b, err := os.ReadFile(api.LogPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("the pod's state dir is %d bytes, at most", len(stateDir)); !strings.Contains(string(b), want) {
		t.Errorf("the monitor's log does not say why ps shows the spare (%q):\n%s", want, b)
	}
}

// TestSpareExitsWithoutDaemon: a spare nobody adopts exits when the daemon's end of its
// socket closes, by Close (which returns once it is gone) or by the daemon's death
// (kill -9), and leaves nothing: it has no state on disk.
func TestSpareExitsWithoutDaemon(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		bin := spareBinary(t)
		s, err := StartSpare(StartOptions{Binary: bin})
		if err != nil {
			t.Fatal(err)
		}
		waitSpare(t, bin)
		s.Close()
		if left := processesOf(t, bin); len(left) > 0 {
			t.Errorf("processes left once Close returned: %v", left)
		}
		waitNoProcessOf(t, bin)
	})
	t.Run("kill-9", func(t *testing.T) {
		bin := spareBinary(t)
		// A temp dir of its own: what the daemon makes there is left by its death.
		daemonTmp := t.TempDir()
		daemon := exec.Command(os.Args[0], "-test.run=^TestSpareHelperDaemon$")
		daemon.Env = append(os.Environ(), spareHelperEnv+"="+bin, "TMPDIR="+daemonTmp)
		out, err := daemon.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := daemon.Start(); err != nil {
			t.Fatal(err)
		}
		// A failure before the kill below must not leave the daemon, and so its
		// spare, for the minute it sleeps.
		t.Cleanup(func() {
			_ = daemon.Process.Kill()
			_ = daemon.Wait()
		})
		if _, err := out.Read(make([]byte, 1)); err != nil {
			t.Fatalf("helper daemon: %v", err)
		}
		waitSpare(t, bin)
		_ = daemon.Process.Signal(syscall.SIGKILL)
		_ = daemon.Wait()
		waitNoProcessOf(t, bin)
		if ents, err := os.ReadDir(daemonTmp); err != nil || len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("the killed daemon left in its temp dir: %v %v", names, err)
		}
	})
}

// waitSpare waits for bin's spare to be past its launch and returns its pid.
func waitSpare(t *testing.T, bin string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for pid, args := range processesOf(t, bin) {
			// Not the launcher, our child, which may be gone by now.
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err == nil && len(args) > 1 && args[1] == api.SpareArg {
				if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 1 && f[1] != strconv.Itoa(os.Getpid()) {
					return pid
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// spareHelperEnv names the spare binary of TestSpareHelperDaemon, and tells TestMain
// that this process is that helper.
const spareHelperEnv = "CRID_TEST_SPARE_BINARY"

// TestSpareHelperDaemon is the daemon TestSpareExitsWithoutDaemon kills: it starts a
// spare, says so on stdout and waits.
func TestSpareHelperDaemon(t *testing.T) {
	bin := os.Getenv(spareHelperEnv)
	if bin == "" {
		t.Skip("a helper process of TestSpareExitsWithoutDaemon")
	}
	if _, err := StartSpare(StartOptions{Binary: bin}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("started")
	time.Sleep(time.Minute)
}

// TestSparesFallBack: Spares.Start falls back to starting the pod's monitor when the
// ready spare died (kill -9 before its adoption: the pool drops it without trying it)
// or its adoption fails (a stand-in spare that reads the adoption and exits without its
// "ok"). The pool's log tells the two paths apart: only a failed adoption warns.
func TestSparesFallBack(t *testing.T) {
	const adoptionFailed = "adopting a spare monitor failed"
	t.Run("dead", func(t *testing.T) {
		bin := spareBinary(t)
		var log syncBuffer
		p := NewSpares(StartOptions{Binary: bin}, 1, slog.New(slog.NewTextHandler(&log, nil)))
		defer p.Close()
		pid := waitSpare(t, bin)
		spare := waitReadySpare(t, p)
		syscall.Kill(pid, syscall.SIGKILL)
		// Dead once its end of the socket is closed, which its exit does.
		deadline := time.Now().Add(10 * time.Second)
		for spare.Alive() {
			if time.Now().After(deadline) {
				t.Fatalf("spare %d still alive 10s after SIGKILL", pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
		startFromSpares(t, p, StartOptions{Binary: bin})
		if strings.Contains(log.String(), adoptionFailed) {
			t.Errorf("the dead spare was adopted, not dropped: %s", log.String())
		}
	})
	t.Run("adoption-fails", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "spare-says-nothing")
		script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = %s ]; then (cat <&3 >/dev/null) & exit 0; fi\nexec %s \"$@\"\n", api.SpareArg, procBinary)
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		var log syncBuffer
		p := NewSpares(StartOptions{Binary: bin}, 1, slog.New(slog.NewTextHandler(&log, nil)))
		defer p.Close()
		waitReadySpare(t, p)
		startFromSpares(t, p, StartOptions{Binary: bin})
		if !strings.Contains(log.String(), adoptionFailed) {
			t.Errorf("no failed adoption logged: %q", log.String())
		}
	})
}

// TestSparesCloseWaits: the pool's Close (the daemon's stop) returns once its spares are
// gone, not a moment before they exit.
func TestSparesCloseWaits(t *testing.T) {
	bin := spareBinary(t)
	const n = 3
	p := NewSpares(StartOptions{Binary: bin}, n, nil)
	deadline := time.Now().Add(10 * time.Second)
	for p.readyCount() < n || len(processesOf(t, bin)) < n {
		if time.Now().After(deadline) {
			p.Close()
			t.Fatalf("%d spares ready, processes %v after 10s; want %d", p.readyCount(), processesOf(t, bin), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Close()
	if left := processesOf(t, bin); len(left) > 0 {
		t.Errorf("processes left once Close returned: %v", left)
	}
	waitNoProcessOf(t, bin)
}

// waitReadySpare fails unless p has a ready spare within 10 s, and returns it.
func waitReadySpare(t *testing.T, p *Spares) *Spare {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		var s *Spare
		if len(p.ready) > 0 {
			s = p.ready[0]
		}
		p.mu.Unlock()
		if s != nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare ready after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startFromSpares starts a pod's monitor from p and checks it runs a container.
func startFromSpares(t *testing.T, p *Spares, opts StartOptions) *Client {
	t.Helper()
	opts.StateDir = t.TempDir()
	opts.PodID = "pod-" + filepath.Base(opts.StateDir)
	cleanupPod(t, opts.StateDir)
	c, err := p.Start(ctxT(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	run(t, c, "c1", "exit 4", CreateRequest{})
	if st := waitExit(t, c, "c1"); st.ExitCode != 4 {
		t.Errorf("exit %+v, want code 4", st)
	}
	return c
}

// TestSparesConcurrent: pods started at once from one spare each get a monitor of
// their own, and a retried start finds the pod's monitor instead of adopting a spare.
func TestSparesConcurrent(t *testing.T) {
	bin := spareBinary(t)
	p := NewSpares(StartOptions{Binary: bin}, 1, nil)
	waitSpare(t, bin)
	const pods = 10
	var wg sync.WaitGroup
	dirs := make([]string, pods)
	errs := make([]error, pods)
	for i := range dirs {
		dirs[i] = t.TempDir()
		cleanupPod(t, dirs[i])
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := p.Start(ctxT(t), StartOptions{Binary: bin, PodID: fmt.Sprintf("pod%d", i), StateDir: dirs[i]})
			if err == nil {
				c.Close()
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	pids := map[int]bool{}
	for i, dir := range dirs {
		if errs[i] != nil {
			t.Fatalf("pod %d: %v", i, errs[i])
		}
		pid, _, err := api.ReadPidFile(dir)
		if err != nil || pids[pid] {
			t.Fatalf("pod %d: monitor pid %d, %v (pids %v)", i, pid, err, pids)
		}
		pids[pid] = true
	}
	// A retried RunPodSandbox: the pod's monitor answers, the spare stays.
	waitReadySpare(t, p)
	c, err := p.Start(ctxT(t), StartOptions{Binary: bin, PodID: "pod0", StateDir: dirs[0]})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if pid, _, _ := api.ReadPidFile(dirs[0]); !pids[pid] {
		t.Errorf("a retried start replaced the pod's monitor: pid %d", pid)
	}
	p.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var others []int
		for pid := range processesOf(t, bin) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if !pids[pid] && !bytes.Contains(b, []byte(") Z")) {
				others = append(others, pid)
			}
		}
		if len(others) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v are no pod's monitor after Close", others)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSpareAdoptedSwitches: an adopted spare hands its pod to its other body when idle
// and comes back as a started monitor does: the switch execs the pod's command line,
// not the spare's.
func TestSpareAdoptedSwitches(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		bin := spareBinary(t)
		c, podID, stateDir := adoptSpare(t, StartOptions{Binary: bin, LogLevel: "debug", Idle: testIdle, IdleToGo: b.toGo})
		run(t, c, "d", "sleep 100", CreateRequest{})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		var out bytes.Buffer
		code, err := c.Exec(ctxT(t), ExecRequest{ContainerID: "d", Process: &specs.Process{Args: []string{"/bin/sh", "-c", "echo hi"}, Cwd: "/"}, Stdout: &out})
		if err != nil || code != 0 || out.String() != "hi\n" {
			t.Fatalf("exec after a switch: %d %v %q", code, err, out.String())
		}
		pid, _, err := api.ReadPidFile(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		if got := processesOf(t, bin)[pid]; len(got) < 3 || got[1] != "monitor" || got[2] != podID {
			t.Errorf("switched monitor's command line %q, want the pod's", got)
		}
	})
}

// TestSpareAdoptedCleanupAfterKill: an adopted spare killed with kill -9 is cleaned up
// after as a started monitor is: its pid file names it, Cleanup kills its container and
// removes its dir; its state dir is the pod's.
func TestSpareAdoptedCleanupAfterKill(t *testing.T) {
	c, _, stateDir := adoptSpare(t, StartOptions{Binary: spareBinary(t)})
	pid := run(t, c, "c", "exec sleep 1000", CreateRequest{})
	killMonitor(t, stateDir, syscall.SIGKILL)
	if _, err := Connect(ctxT(t), stateDir); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("connect to a dead monitor: %v", err)
	}
	if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !isZombie(b) {
		t.Errorf("container process %d survived Cleanup", pid)
	}
	if _, err := os.Stat(api.Dir(stateDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("monitor dir after Cleanup: %v", err)
	}
}
