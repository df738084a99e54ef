package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// The interactive CLI tests drive crid through a real pseudo-terminal, as a person at a
// terminal would: typing, resizing the window, reading what the screen gets.

// ptySession is one crid process whose stdin, stdout and stderr are a pty's.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	out  syncBuffer
	done chan struct{}
	read chan struct{} // closed when the pty has nothing more to read (crid and its children gone)
	err  error
}

func (c *cliTarget) startPTY(t *testing.T, rows, cols uint16, args ...string) *ptySession {
	t.Helper()
	s := &ptySession{t: t, cmd: c.command(args...), done: make(chan struct{}), read: make(chan struct{})}
	ptmx, err := pty.StartWithSize(s.cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		t.Fatalf("start crid %s in a pty: %v", strings.Join(args, " "), err)
	}
	s.ptmx = ptmx
	go func() { _, _ = io.Copy(&s.out, ptmx); close(s.read) }()
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		ptmx.Close()
	})
	return s
}

// typeLine types text and Enter.
func (s *ptySession) typeLine(text string) {
	if _, err := s.ptmx.WriteString(text + "\r"); err != nil {
		s.t.Fatalf("type %q: %v", text, err)
	}
}

// expect waits until the screen output holds want.
func (s *ptySession) expect(want string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.out.String(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("the terminal never showed %q; it shows:\n%q", want, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retype types line until the screen holds want: the first keystrokes may race the
// attach, a resize the SIGWINCH.
func (s *ptySession) retype(line, want string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		mark := len(s.out.String())
		s.typeLine(line)
		wait := time.Now().Add(time.Second)
		for time.Now().Before(wait) {
			if strings.Contains(s.out.String()[mark:], want) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("typed %q until %v, the terminal never showed %q:\n%q", line, timeout, want, s.out.String())
		}
	}
}

// exitCode waits for crid to exit.
func (s *ptySession) exitCode(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("crid still running %v later; terminal:\n%q", timeout, s.out.String())
	}
	// What crid wrote just before exiting may still sit in the pty: read it all (the read
	// ends with EIO once no process holds the terminal).
	select {
	case <-s.read:
	case <-time.After(10 * time.Second):
		s.t.Errorf("the pty still has a reader or writer 10s after crid exited")
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		s.t.Fatalf("crid: %v", s.err)
	}
	return 0
}

// resize changes the window size, as a terminal emulator does (the kernel signals
// SIGWINCH to the foreground process, crid).
func (s *ptySession) resize(rows, cols uint16) {
	if err := pty.Setsize(s.ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		s.t.Fatal(err)
	}
}

// TestCLIRunInteractive: `crid run -it --rm IMAGE sh` gives a shell on this terminal that
// sees its size and its changes, runs what is typed, and ends with the shell's exit code,
// leaving nothing behind.
func TestCLIRunInteractive(t *testing.T) {
	c := newCLITarget(t, "cli-it")
	name := "it-" + randHex(3)
	c.removeOnCleanup(t, name)
	c.ok(t, "pull", c.image)
	s := c.startPTY(t, 40, 100, "run", "-it", "--rm", "--name", name, c.image, "sh")
	s.retype("stty size", "40 100", 30*time.Second)
	s.resize(50, 120)
	s.retype("stty size", "50 120", 10*time.Second)
	s.typeLine("echo $((6*7))")
	s.expect("42", 10*time.Second)
	s.typeLine("exit 5")
	if code := s.exitCode(30 * time.Second); code != 5 {
		t.Errorf("crid run -it exited %d, want the shell's 5; terminal:\n%q", code, s.out.String())
	}
	if left := c.ok(t, "ps", "-a", "-q", "--filter", "name="+name); left != "" {
		t.Errorf("--rm left %q", left)
	}
}

// TestCLIRunDetachKeys: ctrl-p ctrl-q leaves `crid run -it` with the container running.
func TestCLIRunDetachKeys(t *testing.T) {
	c := newCLITarget(t, "cli-detach")
	name := "detach-" + randHex(3)
	c.removeOnCleanup(t, name)
	c.ok(t, "pull", c.image)
	s := c.startPTY(t, 24, 80, "run", "-it", "--name", name, c.image, "sh")
	s.retype("echo ready-$((1+1))", "ready-2", 30*time.Second)
	if _, err := s.ptmx.Write([]byte{0x10, 0x11}); err != nil {
		t.Fatal(err)
	}
	if code := s.exitCode(10 * time.Second); code != 0 {
		t.Errorf("detach: exit %d", code)
	}
	if out := c.ok(t, "ps", "--filter", "name="+name, "--format", "{{.State}}"); strings.TrimSpace(out) != "running" {
		t.Errorf("after detaching, the container is %q, want running", out)
	}
}

// TestCLIExecInteractive: `crid exec -it NAME sh` into a running container, with typing,
// a resize and the exit code.
func TestCLIExecInteractive(t *testing.T) {
	c := newCLITarget(t, "cli-execit")
	name := "execit-" + randHex(3)
	c.removeOnCleanup(t, name)
	c.ok(t, "run", "-d", "--name", name, c.image, "sleep", "600")
	s := c.startPTY(t, 30, 90, "exec", "-it", name, "sh")
	s.retype("stty size", "30 90", 30*time.Second)
	s.resize(33, 111)
	s.retype("stty size", "33 111", 10*time.Second)
	s.typeLine("echo inside-$(cat /proc/1/comm)")
	s.expect("inside-sleep", 10*time.Second)
	s.typeLine("exit 3")
	if code := s.exitCode(30 * time.Second); code != 3 {
		t.Errorf("crid exec -it exited %d, want 3", code)
	}
}

// TestCLIStatsLive: on a terminal, `crid stats` redraws its table in place every second.
func TestCLIStatsLive(t *testing.T) {
	c := newCLITarget(t, "cli-stats")
	name := "stats-" + randHex(3)
	c.removeOnCleanup(t, name)
	c.ok(t, "run", "-d", "--name", name, c.image, "sleep", "600")
	s := c.startPTY(t, 24, 160, "stats", name)
	const clearHome = "\x1b[2J\x1b[H"
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(s.out.String(), clearHome) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("crid stats did not redraw 3 times in place:\n%q", s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	frames := strings.Split(s.out.String(), clearHome)
	last := frames[len(frames)-2] // the newest complete frame
	if !strings.Contains(last, "CPU %") || !strings.Contains(last, name) || strings.Count(last, name) != 1 {
		t.Errorf("a frame of crid stats:\n%q", last)
	}
}

// TestCLIPullProgress: on a terminal, `crid pull` draws a line per layer and redraws them
// in place (cursor up), then reports each layer complete.
func TestCLIPullProgress(t *testing.T) {
	c := newCLITarget(t, "cli-progress")
	s := c.startPTY(t, 24, 120, "pull", c.image)
	if code := s.exitCode(60 * time.Second); code != 0 {
		t.Fatalf("crid pull: exit %d\n%q", code, s.out.String())
	}
	out := s.out.String()
	for _, want := range []string{"Pulling fs layer [", "\x1b[2K", "Pull complete", "Image ID: sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("crid pull on a terminal lacks %q:\n%q", want, out)
		}
	}
	layers := strings.Count(out, "Pull complete")
	if !strings.Contains(out, fmt.Sprintf("\x1b[%dA", layers+1)) {
		t.Errorf("no cursor-up over the %d layer lines and the status line:\n%q", layers, out)
	}
}
