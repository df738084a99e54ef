package monitor

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// Spare is a monitor started before its pod (api.SpareArg): its exec, its Go runtime
// start and what it sets up that is not the pod's are done when RunPodSandbox adopts
// it. It holds the other end of conn, which only this process has: when conn closes
// unadopted (Close, or the daemon's exit, kill -9 included) the spare exits. A spare
// has no state on disk until its adoption.
type Spare struct {
	conn *os.File
	opts StartOptions // daemon-wide: PodID and StateDir are empty
}

// StartSpare starts a spare monitor with opts' daemon-wide options; opts.PodID and
// opts.StateDir are ignored, opts.Runtime must be nil (an external runtime's pod
// always gets a started monitor). It returns once the spare is launched, before its
// Go runtime has started: an adoption sent earlier waits in the socket.
func StartSpare(opts StartOptions) (*Spare, error) {
	if opts.Binary == "" || opts.Runtime != nil {
		return nil, fmt.Errorf("monitor: a spare needs the binary and the built-in executor: %w", errdefs.ErrInvalidArgument)
	}
	opts.PodID, opts.StateDir = "", ""
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("spare monitor: %w", err)
	}
	// Ours is non-blocking so that Close interrupts a read in flight (awaitReady); the
	// spare's stays blocking.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("spare monitor: %w", err)
	}
	conn := os.NewFile(uintptr(fds[0]), "spare")
	args := append(append([]string{api.SpareArg}, monitorArgs(opts)...), make([]string, api.SpareRoom)...)
	if err := launch(opts.Binary, args, os.NewFile(uintptr(fds[1]), "spare-end"), conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("spare monitor: %w", err)
	}
	return &Spare{conn: conn, opts: opts}, nil
}

// Fits tells whether opts start the monitor this spare is, but for its pod.
func (s *Spare) Fits(opts StartOptions) bool {
	opts.PodID, opts.StateDir = "", ""
	return opts.Runtime == nil && opts == s.opts
}

// Alive tells whether the spare may still be adopted: it has not exited (its end of
// conn would read as closed) nor written anything (only a failure it would say).
func (s *Spare) Alive() bool {
	alive := false
	raw, err := s.conn.SyscallConn()
	if err == nil {
		_ = raw.Control(func(fd uintptr) {
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(p, 0)
			alive = err == nil && n == 0
		})
	}
	return alive
}

// Adopt makes the spare the monitor of podID in stateDir and connects to it, as Start
// would return a monitor started for the pod. The spare is spent whatever happens;
// on an error it exits (a caller falls back to Start).
func (s *Spare) Adopt(ctx context.Context, podID, stateDir string) (*Client, error) {
	defer s.conn.Close()
	if podID == "" || stateDir == "" {
		return nil, fmt.Errorf("monitor: pod id and state dir are required: %w", errdefs.ErrInvalidArgument)
	}
	if _, err := s.conn.Write(api.AdoptionMessage(podID, stateDir)); err != nil {
		return nil, fmt.Errorf("monitor for pod %s: adopt a spare: %w: %w", podID, err, errdefs.ErrUnavailable)
	}
	// The spare reads its message to the end.
	raw, err := s.conn.SyscallConn()
	if err == nil {
		if cerr := raw.Control(func(fd uintptr) { err = unix.Shutdown(int(fd), unix.SHUT_WR) }); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("monitor for pod %s: adopt a spare: %w: %w", podID, err, errdefs.ErrUnavailable)
	}
	return awaitReady(ctx, s.conn, podID, stateDir)
}

// spareExitWait bounds how long closing unadopted spares waits for them to exit.
const spareExitWait = time.Second

// Close makes an unadopted spare exit and waits, up to spareExitWait, until it has:
// crid's stop must not leave a spare behind for a moment (systemd's "left-over
// process", a leak check run right after).
func (s *Spare) Close() error {
	s.hangUp()
	s.awaitExit(time.Now().Add(spareExitWait))
	return s.conn.Close()
}

// hangUp ends what crid says: the spare reads its socket to the end with nothing said
// and exits.
func (s *Spare) hangUp() {
	if raw, err := s.conn.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_WR) })
	}
}

// awaitExit waits until the spare's end of conn is closed, or deadline: only the spare
// holds that end (the launcher has exited), so its exit closes it. An unadopted spare
// says nothing; whatever it might is discarded.
func (s *Spare) awaitExit(deadline time.Time) {
	if s.conn.SetReadDeadline(deadline) == nil {
		_, _ = io.Copy(io.Discard, s.conn)
	}
}
