package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// The switch between the monitor's Go body and its C body (issue 16), per body the
// idle monitor switches to: "c", the C body (package supervise), which any connection
// brings back to Go; and "go", the Go body itself re-executed through the same
// handover at once (StartOptions.IdleToGo), which tests the Go side of the round trip
// alone and switches at every idle period.

const testIdle = 100 * time.Millisecond

type body struct {
	name string
	toGo bool
}

// forBodies runs f once per body, with the process executor's monitor.
func forBodies(t *testing.T, f func(t *testing.T, b body)) {
	forBodiesOf(t, procBinary, f)
}

func forBodiesOf(t *testing.T, binary string, f func(t *testing.T, b body)) {
	for _, b := range []body{{"go", true}, {"c", false}} {
		t.Run(b.name, func(t *testing.T) {
			if !b.toGo {
				requireCBody(t, binary)
			}
			f(t, b)
		})
	}
}

// requireCBody skips a test of the C body when binary does not link it.
func requireCBody(t *testing.T, binary string) {
	t.Helper()
	b, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("crid_supervise")) {
		t.Skip("crid-monitor does not link the C body (package oci/monitor/supervise)")
	}
}

func (b body) start(t *testing.T, binary string, opt func(*StartOptions)) (*Client, string) {
	t.Helper()
	return startMonitorWith(t, binary, func(o *StartOptions) {
		o.Idle, o.IdleToGo = testIdle, b.toGo
		opt(o)
	})
}

// resumes counts the Go body's resumes so far (its log says each).
func resumes(t *testing.T, stateDir string) int {
	t.Helper()
	b, err := os.ReadFile(api.LogPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("monitor resumed"))
}

// threads is the monitor's thread count: 1 is the C body (a Go process never has one).
func threads(t *testing.T, stateDir string) int {
	t.Helper()
	pid, _, err := api.ReadPidFile(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads in /proc/PID/status")
	return 0
}

// mark is where waitSwitched counts from.
func (b body) mark(t *testing.T, stateDir string) int { return resumes(t, stateDir) }

// waitSwitched waits for a switch after mark: the Go body resumed (go), or the
// monitor is the C body (c; any request that was answered came from Go).
func (b body) waitSwitched(t *testing.T, stateDir string, mark int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b.toGo && resumes(t, stateDir) > mark || !b.toGo && threads(t, stateDir) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the monitor did not switch (%d resumes, %d threads)", resumes(t, stateDir), threads(t, stateDir))
		}
		time.Sleep(10 * time.Millisecond) // polling for a condition
	}
}

// mkfifo makes a fifo the container reads to go on: the test decides when, after a switch.
func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(p, 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

func release(t *testing.T, fifo string) {
	t.Helper()
	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func logEntries(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, " ", 2)
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil || len(f) < 2 {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, f[1])
	}
	return out
}

// waitLog waits until the log's entries, joined by "|", are want.
func waitLog(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Join(logEntries(t, path), "|") != want {
		if time.Now().After(deadline) {
			t.Fatalf("log %q, want %q", logEntries(t, path), want)
		}
		time.Sleep(10 * time.Millisecond) // polling the log for a condition
	}
}

// Output and an exit while the other body runs: partial lines on both streams cross
// the switch, the exit is recorded and published (by the C body itself: Go does not
// come back for it), the pid stays the monitor's.
func TestSwitchKeepsOutputExitAndPid(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		fifo := mkfifo(t)
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		mpid, start, err := api.ReadPidFile(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(t.TempDir(), "c.log")
		script := fmt.Sprintf(`printf 'one-'; printf 'e1-' >&2; read x < %s; echo two; echo e2 >&2; printf tail; exit 3`, fifo)
		run(t, c, "c", script, CreateRequest{LogPath: logPath})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		n := resumes(t, stateDir)
		release(t, fifo)
		ev := waitExit(t, c, "c")
		if ev.ExitCode != 3 || ev.Status != "stopped" || ev.StartedAt.IsZero() || ev.FinishedAt.IsZero() {
			t.Fatalf("exit %+v", ev)
		}
		if !b.toGo && (resumes(t, stateDir) != n || threads(t, stateDir) != 1) {
			t.Errorf("the exit was not published by the C body (%d resumes, was %d)", resumes(t, stateDir), n)
		}
		// On disk before it was published.
		if rec, err := api.ReadRecord(api.ContainerDir(stateDir, "c")); err != nil || rec.ExitCode != 3 || rec.Status != api.StatusStopped {
			t.Fatalf("record %+v %v", rec, err)
		}
		entries := logEntries(t, logPath)
		got := strings.Join(entries, "|")
		for _, want := range []string{"stdout F one-two", "stderr F e1-e2", "stdout P tail"} {
			if strings.Count(got, want) != 1 {
				t.Errorf("log %q: want %q once", got, want)
			}
		}
		if len(entries) != 3 {
			t.Errorf("log %q: want 3 entries", got)
		}
		// The same process all along: crid's pid file and Cleanup stay right.
		if st, err := api.ProcStartTime(mpid); err != nil || st != start {
			t.Fatalf("monitor pid %d: start %d, want %d (%v)", mpid, st, start, err)
		}
		// A kept connection closed by a switch is redone; the state is the recorded one.
		b.waitSwitched(t, stateDir, resumes(t, stateDir))
		st, err := c.State(ctxT(t), "c")
		if err != nil || st.ExitCode != 3 || st.Status != "stopped" || !st.FinishedAt.Equal(ev.FinishedAt) {
			t.Fatalf("state %+v %v, want the exit %+v", st, err, ev)
		}
		// Exec after a switch.
		run(t, c, "d", "sleep 100", CreateRequest{})
		b.waitSwitched(t, stateDir, resumes(t, stateDir))
		var out bytes.Buffer
		code, err := c.Exec(ctxT(t), ExecRequest{ContainerID: "d", Process: &specs.Process{Args: []string{"/bin/sh", "-c", "echo hi"}, Cwd: "/"}, Stdout: &out})
		if err != nil || code != 0 || out.String() != "hi\n" {
			t.Fatalf("exec after a switch: %d %v %q", code, err, out.String())
		}
		if pid, _, _ := api.ReadPidFile(stateDir); pid != mpid {
			t.Errorf("pid file %d, want %d", pid, mpid)
		}
	})
}

// A line longer than the max is split into P pieces at the max, across a switch too.
func TestSwitchSplitsLongLinesAtMax(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		fifo := mkfifo(t)
		c, stateDir := b.start(t, procBinary, func(o *StartOptions) { o.MaxLogLine = 8 })
		logPath := filepath.Join(t.TempDir(), "c.log")
		run(t, c, "c", fmt.Sprintf(`printf abcde; read x < %s; echo fghijklmnopqrs; printf 12345678; echo; exit 0`, fifo), CreateRequest{LogPath: logPath})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		release(t, fifo)
		waitExit(t, c, "c")
		// A piece of exactly the max waits for what follows: here a newline, so it is an F.
		want := "stdout P abcdefgh|stdout P ijklmnop|stdout F qrs|stdout F 12345678"
		if got := strings.Join(logEntries(t, logPath), "|"); got != want {
			t.Errorf("log %q, want %q", got, want)
		}
	})
}

// Exits that fall before, during and after switches are each recorded and published
// once with their own code.
func TestSwitchExitsEachRecordedOnce(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		c, stateDir := b.start(t, procBinary, func(o *StartOptions) { o.Idle = 20 * time.Millisecond })
		const n = 12
		for i := 0; i < n; i++ {
			// Spread over about a second: many switches happen meanwhile.
			run(t, c, fmt.Sprintf("c%d", i), fmt.Sprintf("sleep 0.%02d; exit %d", 8*i, i+1), CreateRequest{})
		}
		seen := map[string]int32{}
		timeout := time.After(30 * time.Second)
		for len(seen) < n {
			select {
			case st := <-c.Events():
				if code, ok := seen[st.ID]; ok && code != st.ExitCode {
					t.Fatalf("%s: exit %d then %d", st.ID, code, st.ExitCode)
				}
				seen[st.ID] = st.ExitCode
			case <-timeout:
				t.Fatalf("exits seen: %v", seen)
			}
		}
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("c%d", i)
			if seen[id] != int32(i+1) {
				t.Errorf("%s: exit %d, want %d", id, seen[id], i+1)
			}
			rec, err := api.ReadRecord(api.ContainerDir(stateDir, id))
			if err != nil || rec.ExitCode != int32(i+1) || rec.Status != api.StatusStopped {
				t.Errorf("%s: record %+v %v", id, rec, err)
			}
		}
		list, err := c.List(ctxT(t))
		if err != nil || len(list) != n {
			t.Fatalf("list %v %v", list, err)
		}
		for _, st := range list {
			if st.ExitCode != seen[st.ID] || st.Status != "stopped" {
				t.Errorf("list: %+v, exit %d published", st, seen[st.ID])
			}
		}
	})
}

// A container that waits in created keeps the monitor in Go: its Start needs the Go body.
func TestSwitchWaitsForCreated(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		if _, err := c.Create(ctxT(t), CreateRequest{ID: "c", Spec: shSpec("exit 4")}); err != nil {
			t.Fatal(err)
		}
		n := resumes(t, stateDir)
		// Idle for several periods: a switch now would be a bug this test can see.
		time.Sleep(5 * testIdle)
		if th := threads(t, stateDir); th == 1 {
			t.Error("in the C body with a container in created")
		}
		if err := c.Start(ctxT(t), "c"); err != nil {
			t.Fatalf("start after idle periods in created: %v", err)
		}
		if r := resumes(t, stateDir); r != n {
			t.Errorf("%d switches with a container in created", r-n)
		}
		if st := waitExit(t, c, "c"); st.ExitCode != 4 {
			t.Errorf("exit %+v", st)
		}
	})
}

// crid going away while the pod is handed over: a new client reconnects and gets the
// exit it missed replayed; attach reaches the container's stdin (StdinOnce) across
// switches; shutdown from the other body ends everything.
func TestSwitchReconnectReplayAttachShutdown(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		fifo := mkfifo(t)
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		run(t, c, "a", fmt.Sprintf("read x < %s; exit 9", fifo), CreateRequest{})
		logPath := filepath.Join(t.TempDir(), "b.log")
		secs := ownSleep(2)
		run(t, c, "b", `read line; echo "got $line"; read more || echo eof; sleep `+secs, CreateRequest{Stdin: true, StdinOnce: true, LogPath: logPath})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		c.Close() // crid goes away while the pod is handed over
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		if b.toGo {
			// The resumed body noticed the subscriber leave: it is in no later handover.
			waitLogLine(t, api.LogPath(stateDir), "switching to the C body", "subscribers=0")
		}
		release(t, fifo)
		if b.toGo {
			b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		} else {
			// The exit is recorded by the C body with nobody subscribed.
			deadline := time.Now().Add(20 * time.Second)
			for {
				if rec, err := api.ReadRecord(api.ContainerDir(stateDir, "a")); err == nil && rec.Status == api.StatusStopped {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the exit was not recorded")
				}
				time.Sleep(10 * time.Millisecond) // polling for a condition
			}
		}
		c2, err := Connect(ctxT(t), stateDir)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if st := waitExit(t, c2, "a"); st.ExitCode != 9 {
			t.Fatalf("replayed exit %+v", st)
		}
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		pr, pw := io.Pipe()
		attached := make(chan error, 1)
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		go func() { attached <- c2.Attach(ctx, "b", pr, io.Discard, io.Discard, nil) }()
		_, _ = pw.Write([]byte("hello\n"))
		pw.Close() // with StdinOnce, the container's stdin closes when the attach ends
		waitLog(t, logPath, "stdout F got hello|stdout F eof")
		cancel() // the container runs on: the client detaches
		if err := <-attached; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("attach: %v", err)
		}
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		if err := c2.Shutdown(ctxT(t)); err != nil {
			t.Fatalf("shutdown after a switch: %v", err)
		}
		if n := countProcs(t, secs); n != 0 {
			t.Errorf("%d 'sleep %s' left after shutdown", n, secs)
		}
	})
}

// kubelet's log rotation while the pod is handed over: ReopenLog brings Go back, which
// reopens the path; output after it, logged by either body, goes to the new file.
func TestSwitchReopenLog(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		f1, f2 := mkfifo(t), mkfifo(t)
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		logPath := filepath.Join(t.TempDir(), "c.log")
		run(t, c, "c", fmt.Sprintf("echo a; read x < %s; echo b; read x < %s; echo c; exit 0", f1, f2), CreateRequest{LogPath: logPath})
		waitLog(t, logPath, "stdout F a")
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		if err := os.Rename(logPath, logPath+".1"); err != nil {
			t.Fatal(err)
		}
		if err := c.ReopenLog(ctxT(t), "c"); err != nil {
			t.Fatal(err)
		}
		release(t, f1)
		waitLog(t, logPath, "stdout F b")
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		release(t, f2)
		waitExit(t, c, "c")
		waitLog(t, logPath, "stdout F b|stdout F c")
		if got := strings.Join(logEntries(t, logPath+".1"), "|"); got != "stdout F a" {
			t.Errorf("rotated log %q", got)
		}
	})
}

// The monitor killed while the pod is handed over: crid's Cleanup finds the same pid
// and records and kills what is left.
func TestSwitchCleanupAfterKill(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		pid := run(t, c, "c", "exec sleep 1000", CreateRequest{})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		killMonitor(t, stateDir, syscall.SIGKILL)
		if _, err := Connect(ctxT(t), stateDir); !errors.Is(err, errdefs.ErrUnavailable) {
			t.Fatalf("connect to a dead monitor: %v", err)
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
	})
}

// killMonitor sends sig to the pod's monitor and waits until it has died.
func killMonitor(t *testing.T, stateDir string, sig syscall.Signal) {
	t.Helper()
	pid, _, err := api.ReadPidFile(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

// waitGone waits until pid has died (gone or a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || isZombie(b) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(5 * time.Millisecond) // polling for a condition
	}
}

// waitLogLine waits until the last line of path that contains prefix also contains want.
func waitLogLine(t *testing.T, path, prefix, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		last := ""
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, prefix) {
				last = l
			}
		}
		if strings.Contains(last, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("last %q line of %s: %q, want %q in it", prefix, path, last, want)
		}
		time.Sleep(10 * time.Millisecond) // polling the log for a condition
	}
}

// Output that flows while the monitor switches back and forth (requests keep waking
// the Go body, the idle period is short) reaches the log whole: every line once, in
// order, none split.
func TestSwitchOutputLosesNothing(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		c, stateDir := b.start(t, procBinary, func(o *StartOptions) { o.Idle = 20 * time.Millisecond })
		logPath := filepath.Join(t.TempDir(), "c.log")
		const lines = 20000
		// A pause every 500 lines spreads the output over many switches.
		script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo line$i; i=$((i+1)); [ $((i %% 500)) = 0 ] && sleep 0.05; done; exit 0`, lines)
		run(t, c, "c", script, CreateRequest{LogPath: logPath})
		n := b.mark(t, stateDir)
		done := make(chan struct{})
		poked := make(chan struct{})
		go func() {
			defer close(poked)
			for {
				select {
				case <-done:
					return
				case <-time.After(30 * time.Millisecond): // a client's request every so often wakes Go
				}
				if _, err := c.State(ctxT(t), "c"); err != nil {
					t.Errorf("state: %v", err)
					return
				}
			}
		}()
		waitExit(t, c, "c")
		close(done)
		<-poked
		entries := logEntries(t, logPath)
		if len(entries) != lines {
			t.Errorf("%d log entries, want %d", len(entries), lines)
		}
		for i, e := range entries {
			if want := fmt.Sprintf("stdout F line%d", i); e != want {
				t.Fatalf("entry %d: %q, want %q", i, e, want)
			}
		}
		r := resumes(t, stateDir)
		if r <= n+1 {
			t.Errorf("only %d switches while the output flowed", r-n)
		}
		t.Logf("%d resumes while %d lines flowed", r-n, lines)
	})
}

// A termination signal is the monitor's whatever body gets it: the C body hands it to
// Go, which takes it as if it had arrived there (SIGTERM ends a Go monitor).
func TestSwitchSignalHandedToGo(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		pid := run(t, c, "c", "exec sleep 1000", CreateRequest{})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		n := resumes(t, stateDir)
		killMonitor(t, stateDir, syscall.SIGTERM)
		if !b.toGo && resumes(t, stateDir) != n+1 {
			t.Errorf("%d resumes after SIGTERM in C, want %d (Go takes the signal)", resumes(t, stateDir), n+1)
		}
		if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
			t.Fatal(err)
		}
		waitGone(t, pid)
	})
}
