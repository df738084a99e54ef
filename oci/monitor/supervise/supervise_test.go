package supervise

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/internal/testenv"
	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/oci/monitor/server"
)

// TestExitRecordedAndPublished: exits seen by C are recorded in state.json and
// sent as State frames, exit codes and OOM as Go's finishExit has them; gone or
// full subscribers are dropped without blocking; orphans are reaped; the
// handover Go gets back carries the exits.
func TestExitRecordedAndPublished(t *testing.T) {
	dir := t.TempDir()
	oom1, oom2 := filepath.Join(dir, "oom1"), filepath.Join(dir, "oom2")
	// v1 memory.oom_control and v2 memory.events.
	for f, s := range map[string]string{oom1: "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", oom2: "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"} {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := newRig(t, rigOpts{
		ctrs: []launchCtr{
			{ID: "c1", StartTime: 12345, OOMFile: oom1, OOMKey: "oom_kill", OOMBase: 1},
			// An id that needs escaping, no start time (zero: "-"), a field C
			// does not know.
			{ID: "c 2%", Created: created, OOMFile: oom2, OOMKey: "oom_kill", OOMBase: 1, Extra: []string{"later=a%20b"}},
		},
		subs: 2, fillSub: true, orphan: true,
	})
	// The second subscriber goes away before any exit.
	r.subs[1].Close()

	before := time.Now()
	r.do("c1", "exit 3")
	st := r.frame(0)
	after := time.Now()
	c1 := r.ctrs["c1"]
	want := api.State{ID: "c1", Pid: r.rep.Pids["c1"], Status: api.StatusStopped, ExitCode: 3, OOMKilled: true}
	checkState(t, st, want, started, before, after)
	rec, err := api.ReadRecord(c1.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != st || rec.StartTime != 12345 {
		t.Errorf("state.json %+v, the frame said %+v (start time 12345)", rec, st)
	}

	// The orphan exits; it must be reaped by the time the next exit is published.
	orphan := r.pidfd(r.rep.Orphan)
	defer unix.Close(orphan)
	if _, err := r.orphanIn.Write([]byte("exit 0\n")); err != nil {
		t.Fatal(err)
	}
	waitPidfd(t, orphan)
	r.do("c 2%", "kill 9")
	st = r.frame(0)
	want = api.State{ID: "c 2%", Pid: r.rep.Pids["c 2%"], Status: api.StatusStopped, ExitCode: 128 + 9}
	checkState(t, st, want, "", before, time.Now())
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", r.rep.Orphan)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the orphan %d was not reaped: %v", r.rep.Orphan, err)
	}
	rec2, err := api.ReadRecord(r.ctrs["c 2%"].Dir)
	if err != nil || rec2.State != st || rec2.StartTime != 0 {
		t.Errorf("state.json %+v (%v), the frame said %+v", rec2, err, st)
	}

	d := r.connect()
	// Only the live subscriber is handed back; the others were closed.
	if h, _ := handedBack(t, d, "c1"); len(h.Subs) != 1 {
		t.Errorf("subscribers handed back: %v, want the first only", h.Subs)
	}
	full := r.subs[2]
	if _, err := io.Copy(io.Discard, full); err != nil { // EOF: C closed it
		t.Error(err)
	}
	// The live subscriber got these two frames and nothing else.
	if typ, p, _, err := api.ReadFrame(r.subs[0], nil); !errors.Is(err, io.EOF) {
		t.Errorf("after the exits, sub got %q %q, %v", typ, p, err)
	}
	for _, rec := range []*api.Record{rec, rec2} {
		_, c := handedBack(t, d, rec.ID)
		if c.Record != *rec {
			t.Errorf("%s handed back as %+v, state.json has %+v", rec.ID, c.Record, *rec)
		}
		if c.Out != -1 || c.Err != -1 {
			t.Errorf("%s: ended streams handed back as out %d err %d", rec.ID, c.Out, c.Err)
		}
	}
	if _, c := handedBack(t, d, "c 2%"); len(c.Extra) != 1 || c.Extra[0] != "later=a%20b" {
		t.Errorf("unknown fields handed back as %q", c.Extra)
	}
	if !d.Conn {
		t.Error("no connection handed back")
	}
}

func checkState(t *testing.T, st, want api.State, startedAt string, before, after time.Time) {
	t.Helper()
	fin := st.FinishedAt
	wantCreated, wantStarted := parseTime(created), parseTime(startedAt)
	if !st.CreatedAt.Equal(wantCreated) || !st.StartedAt.Equal(wantStarted) {
		t.Errorf("%s: created %v started %v, want the handover's %s %q", want.ID, st.CreatedAt, st.StartedAt, created, startedAt)
	}
	// The clock's resolution: FinishedAt is written to the nanosecond.
	if fin.Before(before.Truncate(time.Microsecond)) || fin.After(after) {
		t.Errorf("%s: finished at %v, not between %v and %v", want.ID, fin, before, after)
	}
	st.CreatedAt, st.StartedAt, st.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	if st != want {
		t.Errorf("state %+v, want %+v", st, want)
	}
}

// TestLogLines: output becomes the CRI log entries server.LogStream writes for
// the same bytes (F lines, P pieces at maxline, the tail as P at the end), the
// partial line handed over is continued.
func TestLogLines(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "c1.log")
	r, _ := newRig(t, rigOpts{ctrs: []launchCtr{{ID: "c1", Log: logPath, MaxLine: 10, Pending: "ab"}}, subs: 1})
	outs := []string{"cd\n", "0123456789abcdef\n", "0123456789", "\n", "x\ny\n\nzzzzzzzzzzzzzzzzzzzzzzzzzz", "tail"}
	errs := []string{"e1\n", "0123456789", "012"}
	before := time.Now()
	for i := 0; i < len(outs) || i < len(errs); i++ {
		if i < len(outs) {
			r.do("c1", "out "+strconv.Quote(outs[i]))
		}
		if i < len(errs) {
			r.do("c1", "err "+strconv.Quote(errs[i]))
		}
	}
	r.do("c1", "exit 0")
	r.frame(0) // the output is drained before the exit is published
	after := time.Now()

	got := map[string][]string{}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" {
			continue
		}
		ts, rest, _ := strings.Cut(l, " ")
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || tm.Format(time.RFC3339Nano) != ts {
			t.Errorf("timestamp %q is not Go's RFC3339Nano (%v)", ts, err)
		}
		if tm.Before(before.Truncate(time.Microsecond)) || tm.After(after) {
			t.Errorf("timestamp %v not between %v and %v", tm, before, after)
		}
		stream, _, _ := strings.Cut(rest, " ")
		got[stream] = append(got[stream], rest)
	}
	want := map[string][]string{
		"stdout": goLog(t, "stdout", 10, append([]string{"ab"}, outs...)),
		"stderr": goLog(t, "stderr", 10, errs),
	}
	for _, s := range []string{"stdout", "stderr"} {
		if strings.Join(got[s], "") != strings.Join(want[s], "") {
			t.Errorf("%s logged:\n%s\nserver.LogStream writes:\n%s", s, strings.Join(got[s], ""), strings.Join(want[s], ""))
		}
	}
	r.connect()
}

// goLog is what server.LogStream logs for writes on one stream and its end,
// timestamps cut off.
func goLog(t *testing.T, stream string, maxLine int, writes []string) []string {
	path := filepath.Join(t.TempDir(), "go.log")
	l, err := server.OpenLog(path, maxLine)
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream(stream)
	for _, w := range writes {
		_, _ = s.Write([]byte(w)) // never fails
	}
	s.Flush()
	l.Close()
	b, _ := os.ReadFile(path)
	var out []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if _, rest, ok := strings.Cut(line, " "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// TestPendingHandedBack: a connection makes C exec Go with the connection, the
// partial lines not yet logged (P pieces at maxline logged), kept fds and
// running containers as they were.
func TestPendingHandedBack(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "c1.log")
	r, keep := newRig(t, rigOpts{ctrs: []launchCtr{{ID: "c1", Log: logPath, MaxLine: 10, Pending: "ab"}}, subs: 2, keep: true})
	// A subscriber that goes away is closed at once, not at the next exit.
	r.subs[0].Close()
	r.do("c1", "out "+strconv.Quote("0123456789abc"))
	r.do("c1", "err "+strconv.Quote("z z"))
	d := r.connect()
	if !d.Conn {
		t.Error("no connection handed back")
	}
	if l, err := bufio.NewReader(keep).ReadString('\n'); l != "kept\n" {
		t.Errorf("the kept fd: %q %v", l, err)
	}
	for _, p := range []string{"pending c1 stdout 5\n89abc\n", "pending c1 stderr 3\nz z\n"} {
		if !strings.Contains(d.Handover, p) {
			t.Errorf("handover lacks %q:\n%s", p, d.Handover)
		}
	}
	h, c := handedBack(t, d, "c1")
	if c.Status != api.StatusRunning || c.Pid != r.rep.Pids["c1"] || !c.FinishedAt.IsZero() || c.Out < 0 || c.Err < 0 ||
		!c.CreatedAt.Equal(parseTime(created)) || c.MaxLine != 10 || c.LogPath != logPath || c.Log < 0 {
		t.Errorf("c1 handed back as %+v", c)
	}
	if string(c.PendingOut) != "89abc" || string(c.PendingErr) != "z z" {
		t.Errorf("pending %q %q, want 89abc and z z", c.PendingOut, c.PendingErr)
	}
	if h.Conn <= 2 || len(h.Argv) != 3 || h.Argv[1] != "supc-dump" {
		t.Errorf("handed back conn %d argv %q", h.Conn, h.Argv)
	}
	b, _ := os.ReadFile(logPath)
	if _, rest, _ := strings.Cut(string(b), " "); rest != "stdout P ab01234567\n" {
		t.Errorf("log %q, want one P piece of maxline", b)
	}
	if strings.Count(d.Handover, "\nsub ") != 1 {
		t.Errorf("the subscriber that went away was handed back:\n%s", d.Handover)
	}
	if !strings.HasPrefix(d.Handover, "crid-handover 1\nargv /proc/self/exe\nargv supc-dump\n") || !strings.HasSuffix(d.Handover, "end\n") {
		t.Errorf("handover:\n%s", d.Handover)
	}
}

// TestSignalHandsBack: SIGTERM makes C exec Go with the signal, no connection.
func TestSignalHandsBack(t *testing.T) {
	r, _ := newRig(t, rigOpts{ctrs: []launchCtr{{ID: "c1"}, {ID: "c2"}}, subs: 1})
	r.do("c1", "exit 0")
	r.frame(0) // C runs
	if err := r.cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d := r.dump()
	if !strings.Contains(d.Handover, "\nsignal 15\nend\n") || strings.Contains(d.Handover, "\nconn ") {
		t.Errorf("handover:\n%s", d.Handover)
	}
	if h, c := handedBack(t, d, "c2"); c.Status != api.StatusRunning || h.Signal != 15 || h.Conn != 0 {
		t.Errorf("handed back signal %d conn %d, c2 %s", h.Signal, h.Conn, c.Status)
	}
}

// TestCgroupLeftoversKilled: after the init exits, what is left in its cgroup
// is SIGKILLed before the exit is recorded.
func TestCgroupLeftoversKilled(t *testing.T) {
	if !testenv.Privileged() {
		t.Skip("needs root to make a cgroup")
	}
	root := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		root = "/sys/fs/cgroup" // v2
		if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err != nil || len(b) == 0 {
			t.Skip("no pids cgroup hierarchy here")
		}
	}
	cg := filepath.Join(root, fmt.Sprintf("crid-supc-test-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(cg); err != nil {
			t.Errorf("cgroup left: %v", err)
		}
	})
	sub := filepath.Join(cg, "sub") // the walk is recursive
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sub) })
	r, _ := newRig(t, rigOpts{ctrs: []launchCtr{{ID: "c1", Cgroup: cg}}, subs: 1})
	hold, _ := strconv.Atoi(r.do("c1", "spawn"))
	if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(strconv.Itoa(hold)), 0); err != nil {
		t.Fatal(err)
	}
	pfd := r.pidfd(hold)
	r.pidfds = append(r.pidfds, pfd)
	r.do("c1", "exit 0")
	r.frame(0)
	// SIGKILL was sent before the exit was recorded: the leftover is dead,
	// dying (SIGKILL pending) or gone.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", hold)); err == nil && !killed(b) {
		t.Fatalf("leftover %d not killed:\n%s", hold, b)
	}
	waitPidfd(t, pfd)
	r.connect()
}

func killed(status []byte) bool {
	for _, l := range bytes.Split(status, []byte("\n")) {
		k, v, _ := bytes.Cut(l, []byte(":"))
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "State":
			if bytes.HasPrefix(v, []byte("Z")) || bytes.HasPrefix(v, []byte("X")) {
				return true
			}
		case "SigPnd", "ShdPnd":
			if m, err := strconv.ParseUint(string(v), 16, 64); err == nil && m&(1<<(unix.SIGKILL-1)) != 0 {
				return true
			}
		}
	}
	return false
}

// TestOOMFollowedWhenTheCgroupVanishes: with oomwatch the count is followed
// while the file exists (a systemd unit's memory.events on v2 goes with its
// cgroup before the exit is read), and the last count seen decides.
func TestOOMFollowedWhenTheCgroupVanishes(t *testing.T) {
	events := filepath.Join(t.TempDir(), "memory.events")
	if err := os.WriteFile(events, []byte("oom 1\noom_kill 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := newRig(t, rigOpts{ctrs: []launchCtr{
		{ID: "c1", OOMFile: events, OOMKey: "oom_kill", OOMBase: 1, OOMWatch: true}, {ID: "running"}, {ID: "sync"},
	}, subs: 1})
	r.do("running", "exit 0")
	r.frame(0) // C runs: it read the count once
	if err := os.WriteFile(events, []byte("oom 2\noom_kill 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// C handles every fd that is ready in one round: once an exit that came
	// after the change is published, the change was read.
	r.do("sync", "exit 0")
	if st := r.frame(0); st.ID != "sync" || st.OOMKilled {
		t.Fatalf("first exit %+v", st)
	}
	if err := os.Remove(events); err != nil {
		t.Fatal(err)
	}
	r.do("c1", "exit 0")
	if st := r.frame(0); st.ID != "c1" || !st.OOMKilled {
		t.Errorf("exit after the OOM file went: %+v, want OOMKilled", st)
	}
	r.connect()
}

// TestConsoleKeptAtEOF: a tty's output is logged as server.LogStream logs it;
// at its end (EIO once the container is gone) the tail is logged and the
// console stays open for Go, handed back unchanged.
func TestConsoleKeptAtEOF(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "c1.log")
	r, _ := newRig(t, rigOpts{ctrs: []launchCtr{{ID: "c1", Log: logPath, TTY: true}}, subs: 1})
	r.do("c1", "out "+strconv.Quote("hello\n"))
	r.do("c1", "err "+strconv.Quote("part"))
	r.do("c1", "exit 0")
	r.frame(0)
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if _, rest, ok := strings.Cut(l, " "); ok {
			got = append(got, rest)
		}
	}
	// The pty's line discipline turns "\n" into "\r\n"; both streams are its output.
	if want := goLog(t, "stdout", 0, []string{"hello\r\n", "part"}); strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("logged %q, server.LogStream writes %q", got, want)
	}
	d := r.connect()
	_, c := handedBack(t, d, "c1")
	if c.Console < 0 || c.Out != c.Console || c.Err != -1 || d.Consoles != 1 {
		t.Errorf("handed back out %d err %d console %d (%d open)", c.Out, c.Err, c.Console, d.Consoles)
	}
}
