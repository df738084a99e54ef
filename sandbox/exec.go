package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/errdefs"
)

// MaxExecSyncOutput caps each of ExecSync's stdout and stderr: a process printing without
// end must not exhaust the daemon's memory (CVE-2022-31030). Beyond it output is dropped.
const MaxExecSyncOutput = 16 << 20

// ExecResult is what ExecSync returns.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int32
}

// cappedBuffer keeps the first max bytes written and discards the rest, always reporting
// success so the process is not killed by a broken pipe.
type cappedBuffer struct {
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// RunningContainer returns a RUNNING container and its pod's monitor.
func (m *Manager) RunningContainer(id string) (*Container, Monitor, error) {
	c, err := m.Container(id)
	if err != nil {
		return nil, nil, err
	}
	if c.State != ContainerRunning {
		return nil, nil, fmt.Errorf("container %s is %s, not RUNNING: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	mon, err := m.podMonitor(c.PodID)
	return c, mon, err
}

// execProcess is the container's process settings (user, env, caps, cwd...) with cmd, as
// runc exec does it.
func execProcess(c *Container, cmd []string, tty bool) (*specs.Process, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("cmd: empty: %w", errdefs.ErrInvalidArgument)
	}
	var p specs.Process
	if c.Spec != nil && c.Spec.Process != nil {
		p = *c.Spec.Process
	}
	p.Args, p.Terminal, p.ConsoleSize = cmd, tty, nil
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	return &p, nil
}

// ExecSync runs cmd in the container and returns its output and exit code. With a
// timeout (seconds, 0 = none) the process is killed when it passes and the error wraps
// context.DeadlineExceeded, which kubelet reads as a probe timeout.
func (m *Manager) ExecSync(ctx context.Context, id string, cmd []string, timeout int64) (*ExecResult, error) {
	c, mon, err := m.RunningContainer(id)
	if err != nil {
		return nil, err
	}
	proc, err := execProcess(c, cmd, false)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
		defer cancel()
	}
	stdout := &cappedBuffer{max: MaxExecSyncOutput}
	stderr := &cappedBuffer{max: MaxExecSyncOutput}
	code, err := mon.Exec(ctx, ExecRequest{ContainerID: c.ID, Process: proc, Stdout: stdout, Stderr: stderr})
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("command %q timed out after %ds: %w", cmd, timeout, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	return &ExecResult{Stdout: stdout.buf, Stderr: stderr.buf, ExitCode: int32(code)}, nil
}

// Exec runs cmd in the container with the caller's streams (the streaming server's exec).
func (m *Manager) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer, tty bool, resize <-chan TermSize) (int, error) {
	c, mon, err := m.RunningContainer(id)
	if err != nil {
		return -1, err
	}
	proc, err := execProcess(c, cmd, tty)
	if err != nil {
		return -1, err
	}
	return mon.Exec(ctx, ExecRequest{
		ContainerID: c.ID, Process: proc, Stdin: stdin, Stdout: stdout, Stderr: stderr, Terminal: tty, Resize: resize,
	})
}

// Attach connects the caller's streams to the container's main process.
func (m *Manager) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan TermSize) error {
	c, mon, err := m.RunningContainer(id)
	if err != nil {
		return err
	}
	return mon.Attach(ctx, c.ID, stdin, stdout, stderr, resize)
}

// PortForward connects stream to port on the pod's localhost: the connection is dialled
// from inside the pod's network namespace.
func (m *Manager) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	p, err := m.Pod(podID)
	if err != nil {
		return err
	}
	if p.State != PodReady {
		return fmt.Errorf("pod sandbox %s is not ready: %w", p.ID, errdefs.ErrFailedPrecondition)
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port %d: out of range: %w", port, errdefs.ErrInvalidArgument)
	}
	conn, err := dialInNetNS(p.NetNS, strconv.Itoa(int(port)))
	if err != nil {
		return fmt.Errorf("port forward to pod %s port %d: %w", p.ID, port, err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // the client finished sending; let the server see EOF
		}
	}()
	_, err = io.Copy(stream, conn)
	stream.Close() // unblocks the copy above if the pod side finished first
	conn.Close()
	wg.Wait()
	return err
}

// dialInNetNS dials localhost:port from inside the network namespace at nsPath ("" = the
// host's). A socket belongs to the namespace of the thread that made it, so the dial runs
// on a locked OS thread moved into the pod's namespace and then moved back. Only when the
// way back fails is the thread left locked, so Go discards it when the goroutine ends;
// plain discarding is not enough, because the locked thread may be the main one, which Go
// parks for ever instead (and which /proc/self/ns shows for the whole process).
func dialInNetNS(nsPath, port string) (net.Conn, error) {
	dial := func() (net.Conn, error) {
		c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", port), 10*time.Second)
		if err != nil {
			if c6, err6 := net.DialTimeout("tcp6", net.JoinHostPort("::1", port), 10*time.Second); err6 == nil {
				return c6, nil
			}
		}
		return c, err
	}
	if nsPath == "" {
		return dial()
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{nil, err}
			return // still locked: nothing changed, but stay on the safe side
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter netns %s: %w", nsPath, err)}
			return
		}
		c, err := dial()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
