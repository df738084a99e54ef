package supervise

// The test rig: the test binary plays every part, chosen by os.Args[1].
//   supc-launch  the Go monitor about to switch: subreaper, starts the containers
//                (supc-child) with pipes, writes a handover and execs itself with
//                _CRID_SUPERVISE, so the C constructor of this package takes over;
//   supc-dump    the Go monitor resumed (--resume): records what it got, answers
//                the connection, then kills and reaps everything and exits;
//   supc-child   a container: runs commands read from stdin, acks each on fd 3;
//   supc-orphan  starts a supc-child and exits, leaving an orphan to the subreaper;
//   supc-hold    a leftover process that only waits to be killed.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		modes := map[string]func(){
			"supc-launch": launchMain, "supc-dump": dumpMain, "supc-child": childMain,
			"supc-orphan": orphanMain, "supc-hold": holdMain,
		}
		if f := modes[os.Args[1]]; f != nil {
			f()
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, os.Args[1]+": "+format+"\n", args...)
	os.Exit(1)
}

// launchCtr is one container of a launch; fds are the launcher's.
type launchCtr struct {
	ID, Dir, Log     string
	MaxLine          int
	Stdin, Report    int    // the child's stdin and fd 3
	Cgroup           string // moved into it, and handed over as cgproc
	OOMFile, OOMKey  string
	OOMBase          uint64
	OOMWatch         bool
	Extra            []string // handed over as fields C does not know
	Pending          string   // stdout bytes not yet logged
	Keep             int      // an fd handed over as stdin= (0: none), which C only keeps
	Argv             []string // run instead of supc-child (no stdin, no acks)
	TTY              bool     // stdout and stderr are a pty's: out is its master, the console
	Created, Started string
	StartTime        uint64
}

type launchSpec struct {
	Argv        []string
	Listener    int
	Subs        []int
	FillSub     int // a sub whose socket buffer is full at the switch (0: none)
	Ctrs        []launchCtr
	OrphanStdin int    // 0: no orphan
	Exec        string // the binary to exec into (default: this one)
	Report      int    // the launcher writes launchReport here
}

type launchReport struct {
	Pids   map[string]int
	Orphan int
}

func launchMain() {
	var spec launchSpec
	if err := json.Unmarshal([]byte(os.Getenv("SUPC_SPEC")), &spec); err != nil {
		die("%v", err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		die("subreaper: %v", err)
	}
	h := &api.Handover{Argv: spec.Argv, Listener: spec.Listener, Subs: spec.Subs}
	rep := launchReport{Pids: map[string]int{}}
	for _, c := range spec.Ctrs {
		outR, outW := pipe()
		errR, errW := pipe()
		if c.TTY {
			outR, outW = openPty()
			errR.Close()
			errW.Close()
			errR, errW = nil, outW
		}
		cmd := exec.Command("/proc/self/exe", "supc-child")
		if c.Argv != nil {
			cmd = exec.Command(c.Argv[0], c.Argv[1:]...)
		} else {
			stdin := os.NewFile(uintptr(c.Stdin), "stdin")
			report := os.NewFile(uintptr(c.Report), "report")
			defer stdin.Close()
			defer report.Close()
			cmd.Stdin, cmd.ExtraFiles = stdin, []*os.File{report}
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		if err := cmd.Start(); err != nil {
			die("%v", err)
		}
		outW.Close()
		errW.Close() // no-op with a tty
		rep.Pids[c.ID] = cmd.Process.Pid
		hc := api.NewHandoverContainer(api.Record{State: api.State{
			ID: c.ID, Pid: cmd.Process.Pid, Status: api.StatusRunning,
			CreatedAt: parseTime(c.Created), StartedAt: parseTime(c.Started),
		}, StartTime: c.StartTime})
		hc.Dir, hc.MaxLine, hc.Stdin, hc.Extra = c.Dir, c.MaxLine, c.Keep, c.Extra
		if c.Keep == 0 {
			hc.Stdin = -1
		}
		if c.Log != "" {
			f, err := os.OpenFile(c.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
			if err != nil {
				die("%v", err)
			}
			hc.Log, hc.LogPath = inherit(f), c.Log
		}
		if c.Cgroup != "" {
			if err := os.WriteFile(filepath.Join(c.Cgroup, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
				die("%v", err)
			}
			hc.CgroupProcs = []string{c.Cgroup}
		}
		hc.OOMFile, hc.OOMKey, hc.OOMBase, hc.OOMWatch = c.OOMFile, c.OOMKey, c.OOMBase, c.OOMWatch
		hc.PendingOut = []byte(c.Pending)
		hc.Out = inherit(outR)
		if c.TTY {
			hc.Console = hc.Out
		} else {
			hc.Err = inherit(errR)
		}
		for _, fd := range []int{hc.Out, hc.Err} {
			if fd < 0 {
				continue
			}
			if err := unix.SetNonblock(fd, true); err != nil { // as server's pipe()
				die("%v", err)
			}
		}
		h.Containers = append(h.Containers, hc)
	}
	text, err := h.Marshal()
	if err != nil {
		die("%v", err)
	}
	if spec.OrphanStdin != 0 {
		cmd := exec.Command("/proc/self/exe", "supc-orphan")
		cmd.Stdin = os.NewFile(uintptr(spec.OrphanStdin), "orphan-stdin")
		cmd.Stderr = os.Stderr // Output would capture it, and the orphan keeps it
		out, err := cmd.Output()
		if err != nil {
			die("orphan: %v", err)
		}
		if rep.Orphan, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
			die("orphan: %q", out)
		}
		cmd.Stdin.(*os.File).Close()
	}
	if spec.FillSub != 0 {
		if err := unix.SetNonblock(spec.FillSub, true); err != nil {
			die("%v", err)
		}
		junk := make([]byte, 4096)
		for {
			if _, err := unix.Write(spec.FillSub, junk); err != nil {
				break
			}
		}
	}
	rf := os.NewFile(uintptr(spec.Report), "report")
	if err := json.NewEncoder(rf).Encode(rep); err != nil {
		die("%v", err)
	}
	rf.Close()
	mfd, err := unix.MemfdCreate("handover", 0)
	if err != nil {
		die("%v", err)
	}
	if _, err := unix.Write(mfd, text); err != nil {
		die("%v", err)
	}
	if _, err := unix.Seek(mfd, 0, io.SeekStart); err != nil {
		die("%v", err)
	}
	env := append(os.Environ(), fmt.Sprintf("%s=%d", Env, mfd))
	bin := "/proc/self/exe"
	if spec.Exec != "" {
		bin = spec.Exec
	}
	die("exec: %v", syscall.Exec(bin, []string{"crid-monitor", "supervise"}, env))
}

// parseTime reads a launch's time; "" is the zero time.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		die("%v", err)
	}
	return t
}

// openPty returns a pty's master and its slave.
func openPty() (master, slave *os.File) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		die("%v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		die("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		die("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		die("%v", err)
	}
	return m, s
}

func pipe() (r, w *os.File) {
	r, w, err := os.Pipe()
	if err != nil {
		die("%v", err)
	}
	return r, w
}

// inherit clears close-on-exec: the fd is handed over.
func inherit(f *os.File) int {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
		die("%v", err)
	}
	return int(f.Fd())
}

// dumpResult is what supc-dump records of the handover it was resumed with.
type dumpResult struct {
	Args     []string
	Handover string
	Env      bool // _CRID_SUPERVISE still set
	Conn     bool // the conn line named a connection it could answer on
	Consoles int  // consoles handed back that are open fds
	// ChildSignals is what a process the resumed Go starts inherits (SigBlk,
	// SigIgn): nothing of what C blocked or ignored.
	ChildSignals string
	Err          string
}

func dumpMain() {
	out := os.Args[2]
	res := dumpResult{Args: os.Args, Env: os.Getenv(Env) != ""}
	if len(os.Args) != 5 || os.Args[3] != "--resume" {
		res.Err = "bad argv"
	} else if fd, err := strconv.Atoi(os.Args[4]); err != nil {
		res.Err = err.Error()
	} else if b, err := io.ReadAll(os.NewFile(uintptr(fd), "handover")); err != nil {
		res.Err = err.Error()
	} else {
		res.Handover = string(b)
	}
	if out, err := exec.Command("grep", "^Sig[BI]", "/proc/self/status").Output(); err == nil {
		res.ChildSignals = string(out)
	}
	var kill []int
	if h, err := api.ParseHandover([]byte(res.Handover)); err != nil {
		res.Err = err.Error() // what C wrote, Go cannot read
	} else {
		if h.Conn > 0 {
			_, err := unix.Write(h.Conn, []byte("resumed\n"))
			res.Conn = err == nil
		}
		for _, c := range h.Containers {
			if _, err := unix.FcntlInt(uintptr(c.Console), unix.F_GETFD, 0); c.Console >= 0 && err == nil {
				res.Consoles++
			}
			if c.Stdin >= 0 {
				_, _ = unix.Write(c.Stdin, []byte("kept\n")) // the test reads it
			}
			kill = append(kill, c.Pid)
		}
	}
	b, _ := json.Marshal(res)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		die("%v", err)
	}
	// Nothing is left behind: the containers, then whatever the subreaper got.
	for _, pid := range kill {
		unix.Kill(pid, unix.SIGKILL)
	}
	for {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/children", os.Getpid()))
		for _, f := range strings.Fields(string(kids)) {
			pid, _ := strconv.Atoi(f)
			unix.Kill(pid, unix.SIGKILL)
		}
		if _, err := unix.Wait4(-1, nil, 0, nil); errors.Is(err, unix.ECHILD) {
			return
		}
	}
}

func childMain() {
	ack := os.NewFile(3, "ack")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		reply := "ok"
		switch cmd {
		case "out", "err":
			s, err := strconv.Unquote(arg)
			if err != nil {
				die("%v", err)
			}
			w := os.Stdout
			if cmd == "err" {
				w = os.Stderr
			}
			if _, err := w.WriteString(s); err != nil {
				die("%v", err)
			}
		case "exit":
			n, _ := strconv.Atoi(arg)
			os.Exit(n)
		case "kill":
			n, _ := strconv.Atoi(arg)
			unix.Kill(os.Getpid(), unix.Signal(n))
		case "spawn": // a leftover holding stdout open
			c := exec.Command("/proc/self/exe", "supc-hold")
			c.Stdout = os.Stdout
			if err := c.Start(); err != nil {
				die("%v", err)
			}
			reply = strconv.Itoa(c.Process.Pid)
		}
		fmt.Fprintln(ack, reply)
	}
}

func orphanMain() {
	c := exec.Command("/proc/self/exe", "supc-child")
	c.Stdin = os.Stdin
	c.ExtraFiles = []*os.File{os.Stderr} // acks nobody reads
	if err := c.Start(); err != nil {
		die("%v", err)
	}
	fmt.Println(c.Process.Pid)
}

func holdMain() {
	for {
		_ = unix.Pause() // until SIGKILL
	}
}

// rig drives one supervisor from the test.
type rig struct {
	t        testing.TB
	dir      string
	cmd      *exec.Cmd
	sock     string
	subs     []*os.File // the test's ends
	ctrs     map[string]*rigCtr
	rep      launchReport
	pidfds   []int
	dumpPath string
	orphanIn *os.File
}

type rigCtr struct {
	in  *os.File
	ack *bufio.Reader
	launchCtr
}

// rigOpts says what a launch has; fds are filled in by newRig.
type rigOpts struct {
	ctrs    []launchCtr
	subs    int
	fillSub bool // one more sub, whose buffer is full
	orphan  bool
	keep    bool // the first container gets a keep fd: a pipe the test reads
	exec    string
}

const (
	created = "2026-12-07T03:00:00.123456789Z"
	started = "2026-12-07T03:00:01Z"
)

func newRig(t testing.TB, o rigOpts) (*rig, *os.File) {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), ctrs: map[string]*rigCtr{}}
	r.dumpPath = filepath.Join(r.dir, "dump.json")
	var extra []*os.File
	add := func(f *os.File) int { extra = append(extra, f); return 2 + len(extra) }
	var closeAfter []*os.File
	theirs := func(f *os.File) int { closeAfter = append(closeAfter, f); return add(f) }

	r.sock = filepath.Join(r.dir, "m.sock")
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: r.sock}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 8); err != nil {
		t.Fatal(err)
	}
	spec := launchSpec{Argv: []string{"/proc/self/exe", "supc-dump", r.dumpPath}, Exec: o.exec}
	spec.Listener = theirs(os.NewFile(uintptr(l), "listener"))
	nsub := o.subs
	if o.fillSub {
		nsub++
	}
	for i := 0; i < nsub; i++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.subs = append(r.subs, os.NewFile(uintptr(fds[0]), "sub"))
		fd := theirs(os.NewFile(uintptr(fds[1]), "sub-monitor"))
		spec.Subs = append(spec.Subs, fd)
		if o.fillSub && i == nsub-1 {
			// A small buffer fills fast.
			if err := unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
				t.Fatal(err)
			}
			spec.FillSub = fd
		}
	}
	var keepR *os.File
	for i, c := range o.ctrs {
		rc := &rigCtr{}
		if c.Argv == nil {
			inR, inW, _ := os.Pipe()
			ackR, ackW, _ := os.Pipe()
			c.Stdin, c.Report = theirs(inR), theirs(ackW)
			rc.in, rc.ack = inW, bufio.NewReader(ackR)
			t.Cleanup(func() { inW.Close(); ackR.Close() })
		}
		if c.Dir == "" {
			c.Dir = filepath.Join(r.dir, c.ID)
			if err := os.Mkdir(c.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if c.Created == "" {
			c.Created, c.Started = created, started
		}
		if i == 0 && o.keep {
			var w *os.File
			keepR, w, _ = os.Pipe()
			c.Keep = theirs(w)
		}
		spec.Ctrs = append(spec.Ctrs, c)
		rc.launchCtr = c
		r.ctrs[c.ID] = rc
	}
	if o.orphan {
		var inR *os.File
		inR, r.orphanIn, _ = os.Pipe()
		spec.OrphanStdin = theirs(inR)
		t.Cleanup(func() { r.orphanIn.Close() })
	}
	repR, repW, _ := os.Pipe()
	spec.Report = theirs(repW)
	b, _ := json.Marshal(spec)
	r.cmd = exec.Command("/proc/self/exe", "supc-launch")
	r.cmd.Env = append(os.Environ(), "SUPC_SPEC="+string(b))
	r.cmd.ExtraFiles = extra
	r.cmd.Stderr = os.Stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	for _, f := range closeAfter {
		f.Close()
	}
	if err := json.NewDecoder(repR).Decode(&r.rep); err != nil {
		t.Fatalf("launcher report: %v", err)
	}
	repR.Close()
	for _, pid := range append(mapValues(r.rep.Pids), r.rep.Orphan) {
		if pid <= 0 {
			continue
		}
		// Only to kill what a failed test leaves: one already reaped is gone.
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			r.pidfds = append(r.pidfds, fd)
		} else if !errors.Is(err, unix.ESRCH) {
			t.Fatalf("pidfd %d: %v", pid, err)
		}
	}
	return r, keepR
}

func mapValues(m map[string]int) []int {
	var v []int
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

func (r *rig) pidfd(pid int) int {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		r.t.Fatalf("pidfd %d: %v", pid, err)
	}
	return fd
}

// stop kills what a failed test left: the supervisor and every process it had.
func (r *rig) stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		_ = r.cmd.Wait() // killed
	}
	for _, fd := range r.pidfds {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) // most are gone already
	}
	// Gone before the test's cgroup is removed.
	for _, fd := range r.pidfds {
		waitPidfd(r.t, fd)
		unix.Close(fd)
	}
	for _, s := range r.subs {
		s.Close()
	}
	r.pidfds, r.subs = nil, nil
}

// do sends a command to container id and waits for its ack.
func (r *rig) do(id, cmd string) string {
	r.t.Helper()
	c := r.ctrs[id]
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		r.t.Fatalf("%s: %s: %v", id, cmd, err)
	}
	if strings.HasPrefix(cmd, "exit") || strings.HasPrefix(cmd, "kill") {
		return ""
	}
	l, err := c.ack.ReadString('\n')
	if err != nil {
		r.t.Fatalf("%s: %s: %v", id, cmd, err)
	}
	return strings.TrimSpace(l)
}

// frame reads the next State frame from the test's end of sub i.
func (r *rig) frame(i int) api.State {
	r.t.Helper()
	typ, p, _, err := api.ReadFrame(r.subs[i], nil)
	if err != nil || typ != api.FrameJSON {
		r.t.Fatalf("sub %d: frame %q: %v", i, typ, err)
	}
	var st api.State
	if err := json.Unmarshal(p, &st); err != nil {
		r.t.Fatalf("sub %d: %q: %v", i, p, err)
	}
	return st
}

// connect dials the monitor's socket, which makes C exec the Go side (the
// dumper), and waits until it answered and exited.
func (r *rig) connect() dumpResult {
	r.t.Helper()
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	f := os.NewFile(uintptr(c), "conn")
	defer f.Close()
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: r.sock}); err != nil {
		r.t.Fatal(err)
	}
	if l, err := bufio.NewReader(f).ReadString('\n'); l != "resumed\n" {
		r.t.Fatalf("on the connection: %q, %v", l, err)
	}
	return r.dump()
}

// dump waits for the Go side to exit and returns what it recorded.
func (r *rig) dump() dumpResult {
	r.t.Helper()
	if err := r.cmd.Wait(); err != nil {
		r.t.Fatalf("monitor: %v", err)
	}
	var d dumpResult
	b, err := os.ReadFile(r.dumpPath)
	if err == nil {
		err = json.Unmarshal(b, &d)
	}
	if err != nil || d.Err != "" {
		r.t.Fatalf("dump: %v %s", err, d.Err)
	}
	if d.Env {
		r.t.Errorf("Go was resumed with %s still set", Env)
	}
	if n := len(d.Args); n != 5 || d.Args[1] != "supc-dump" || d.Args[3] != "--resume" {
		r.t.Errorf("resumed with argv %q", d.Args)
	}
	// The launcher got the test's; C must hand Go the mask and dispositions it found.
	if want, err := exec.Command("grep", "^Sig[BI]", "/proc/self/status").Output(); err != nil || d.ChildSignals != string(want) {
		r.t.Errorf("a child of the resumed Go has signals\n%s\nwant\n%s(%v)", d.ChildSignals, want, err)
	}
	return d
}

// handedBack parses the handover C gave Go and returns container id's part.
func handedBack(t testing.TB, d dumpResult, id string) (*api.Handover, *api.HandoverContainer) {
	t.Helper()
	h, err := api.ParseHandover([]byte(d.Handover))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range h.Containers {
		if c.ID == id {
			return h, c
		}
	}
	t.Fatalf("no container %s in the handover:\n%s", id, d.Handover)
	return nil, nil
}

func waitPidfd(t testing.TB, fd int) {
	t.Helper()
	ms := -1 // a benchmark has no deadline
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			ms = int(time.Until(deadline).Milliseconds())
		}
	}
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("process did not exit: %v", err)
		}
		return
	}
}
