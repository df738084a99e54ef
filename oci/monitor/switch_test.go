package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// The Go side of the switch to the monitor's C body (issue 16), tested through the
// whole handover without the C body: the idle monitor re-executes its own Go body
// with the handover (IdleToGo), so every idle period is a switch and a resume of the
// same process, as a switch to C and back is.

const testIdle = 100 * time.Millisecond

func startSwitching(t *testing.T, opt func(*StartOptions)) (*Client, string) {
	t.Helper()
	return startMonitorWith(t, procBinary, func(o *StartOptions) {
		o.Idle, o.IdleToGo = testIdle, true
		opt(o)
	})
}

// resumes counts the monitor's resumes so far (its log says each).
func resumes(t *testing.T, stateDir string) int {
	t.Helper()
	b, err := os.ReadFile(api.LogPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("monitor resumed"))
}

// waitResumes waits until the monitor has resumed more than n times.
func waitResumes(t *testing.T, stateDir string, n int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if r := resumes(t, stateDir); r > n {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the monitor did not switch (%d resumes)", n)
		}
		time.Sleep(10 * time.Millisecond) // polling the log for a condition
	}
}

// mkfifo makes a fifo the container reads to go on: the test decides when, after a switch.
func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
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

func TestSwitchKeepsOutputExitAndPid(t *testing.T) {
	fifo := mkfifo(t)
	c, stateDir := startSwitching(t, func(*StartOptions) {})
	mpid, start, err := api.ReadPidFile(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "c.log")
	// A partial line on each stream before the switch, the rest after it.
	script := fmt.Sprintf(`printf 'one-'; printf 'e1-' >&2; read x < %s; echo two; echo e2 >&2; printf tail; exit 3`, fifo)
	run(t, c, "c", script, CreateRequest{LogPath: logPath})
	n := waitResumes(t, stateDir, 0)
	release(t, fifo)
	ev := waitExit(t, c, "c")
	if ev.ExitCode != 3 || ev.Status != "stopped" || ev.StartedAt.IsZero() || ev.FinishedAt.IsZero() {
		t.Fatalf("exit %+v", ev)
	}
	got := strings.Join(logEntries(t, logPath), "|")
	for _, want := range []string{"stdout F one-two", "stderr F e1-e2", "stdout P tail"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("log %q: want %q once", got, want)
		}
	}
	if len(logEntries(t, logPath)) != 3 {
		t.Errorf("log %q: want 3 entries", got)
	}
	// The same process all along: crid's pid file and Cleanup stay right.
	if st, err := api.ProcStartTime(mpid); err != nil || st != start {
		t.Fatalf("monitor pid %d: start %d, want %d (%v)", mpid, st, start, err)
	}
	// After more switches: state, a kept connection redone, exec.
	waitResumes(t, stateDir, n)
	st, err := c.State(ctxT(t), "c")
	if err != nil || st.ExitCode != 3 || st.Status != "stopped" {
		t.Fatalf("state %+v %v", st, err)
	}
	run(t, c, "d", "sleep 100", CreateRequest{})
	waitResumes(t, stateDir, resumes(t, stateDir))
	var out bytes.Buffer
	code, err := c.Exec(ctxT(t), ExecRequest{ContainerID: "d", Process: &specs.Process{Args: []string{"/bin/sh", "-c", "echo hi"}, Cwd: "/"}, Stdout: &out})
	if err != nil || code != 0 || out.String() != "hi\n" {
		t.Fatalf("exec after a switch: %d %v %q", code, err, out.String())
	}
	if pid, _, _ := api.ReadPidFile(stateDir); pid != mpid {
		t.Errorf("pid file %d, want %d", pid, mpid)
	}
}

// A line longer than the max is split into P pieces at the max, across a switch too.
func TestSwitchSplitsLongLinesAtMax(t *testing.T) {
	fifo := mkfifo(t)
	c, stateDir := startSwitching(t, func(o *StartOptions) { o.MaxLogLine = 8 })
	logPath := filepath.Join(t.TempDir(), "c.log")
	run(t, c, "c", fmt.Sprintf(`printf abcde; read x < %s; echo fghijklmnopqrs; exit 0`, fifo), CreateRequest{LogPath: logPath})
	waitResumes(t, stateDir, 0)
	release(t, fifo)
	waitExit(t, c, "c")
	got := strings.Join(logEntries(t, logPath), "|")
	if want := "stdout P abcdefgh|stdout P ijklmnop|stdout F qrs"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

// Exits that fall before, during and after switches are each recorded and published
// once with their own code.
func TestSwitchExitsEachRecordedOnce(t *testing.T) {
	c, stateDir := startSwitching(t, func(o *StartOptions) { o.Idle = 20 * time.Millisecond })
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
	if resumes(t, stateDir) == 0 {
		t.Error("no switch happened")
	}
}

// A container that waits in created keeps the monitor in Go: its Start needs the Go body.
func TestSwitchWaitsForCreated(t *testing.T) {
	c, stateDir := startSwitching(t, func(*StartOptions) {})
	if _, err := c.Create(ctxT(t), CreateRequest{ID: "c", Spec: shSpec("exit 4")}); err != nil {
		t.Fatal(err)
	}
	n := resumes(t, stateDir)
	// Idle for many periods: Start must find the same body with its created container.
	time.Sleep(5 * testIdle)
	if err := c.Start(ctxT(t), "c"); err != nil {
		t.Fatalf("start after idle periods in created: %v", err)
	}
	if r := resumes(t, stateDir); r != n {
		t.Errorf("%d switches with a container in created", r-n)
	}
	if st := waitExit(t, c, "c"); st.ExitCode != 4 {
		t.Errorf("exit %+v", st)
	}
}

// crid restarting while the pod is handed over: a new client reconnects and gets the
// exits it missed replayed; attach reaches the container's stdin (StdinOnce) across
// switches; shutdown ends everything.
func TestSwitchReconnectReplayAttachShutdown(t *testing.T) {
	fifo := mkfifo(t)
	c, stateDir := startSwitching(t, func(*StartOptions) {})
	run(t, c, "a", fmt.Sprintf("read x < %s; exit 9", fifo), CreateRequest{})
	logPath := filepath.Join(t.TempDir(), "b.log")
	run(t, c, "b", `read line; echo "got $line"; read more || echo eof; sleep 100`, CreateRequest{Stdin: true, StdinOnce: true, LogPath: logPath})
	c.Close() // crid goes away
	n := waitResumes(t, stateDir, resumes(t, stateDir))
	release(t, fifo)
	waitResumes(t, stateDir, n)
	c2, err := Connect(ctxT(t), stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if st := waitExit(t, c2, "a"); st.ExitCode != 9 {
		t.Fatalf("replayed exit %+v", st)
	}
	waitResumes(t, stateDir, resumes(t, stateDir))
	pr, pw := io.Pipe()
	attached := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	go func() { attached <- c2.Attach(ctx, "b", pr, io.Discard, io.Discard, nil) }()
	_, _ = pw.Write([]byte("hello\n"))
	pw.Close() // with StdinOnce, the container's stdin closes when the attach ends
	deadline := time.Now().Add(20 * time.Second)
	for want := "stdout F got hello|stdout F eof"; strings.Join(logEntries(t, logPath), "|") != want; {
		if time.Now().After(deadline) {
			t.Fatalf("log %q, want %q", logEntries(t, logPath), want)
		}
		time.Sleep(10 * time.Millisecond) // polling the log for a condition
	}
	cancel() // the container runs on: the client detaches
	if err := <-attached; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("attach: %v", err)
	}
	waitResumes(t, stateDir, resumes(t, stateDir))
	if err := c2.Shutdown(ctxT(t)); err != nil {
		t.Fatalf("shutdown after a switch: %v", err)
	}
	if n := countProcs(t, "100"); n != 0 {
		t.Errorf("%d 'sleep 100' left after shutdown", n)
	}
}
