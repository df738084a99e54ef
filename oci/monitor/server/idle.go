package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// An idle monitor hands its pod to the monitor's C body (issue 16: a Go process costs
// a pod over 1 MiB at rest, the C body a tenth of it) by execve in place: the same pid
// keeps its children, zombies and the fds named in an api.Handover. The C body reaps,
// logs output and records exits; any connection brings the Go body back (Resume).
// Nothing that is half-done may cross: the switch waits until no request, session,
// exit or fresh connection is in flight and no container waits in `created` (its Start
// needs package oci's sync socket).

// Supervisable is implemented by an Executor whose containers the C body can stand in
// for: it says which cgroup dirs to empty after an init exits and where to read OOM
// kills. A monitor whose executor lacks it never switches (an external runtime keeps
// state the C body does not know).
type Supervisable interface {
	Supervision(spec *specs.Spec) (Supervision, error)
}

// Supervision is what the C body needs to know about one container's cgroup.
type Supervision struct {
	CgroupProcs []string // dirs whose cgroup.procs (recursively) are killed after the init exits
	OOMFile     string   // a flat-keyed file whose OOMKey counter > 0 means an OOM kill
	OOMKey      string
	OOMWatch    bool // the file may vanish before the exit is read (a systemd unit on v2)
}

// Adopter is implemented by an Executor that keeps per-container state of its own
// (an OOM watch, a process group): Resume gives it the containers it did not create.
type Adopter interface {
	Adopt(spec *specs.Spec, pid int) error
}

// armIdleLocked starts the idle period when nothing is in flight; s.mu held.
func (s *Server) armIdleLocked() {
	if s.cfg.Idle <= 0 || s.cfg.Switch == nil || s.active > 0 || s.switching || s.shuttingDown {
		return
	}
	if s.idleTimer == nil {
		s.idleTimer = time.AfterFunc(s.cfg.Idle, s.trySwitch)
		return
	}
	s.idleTimer.Reset(s.cfg.Idle)
}

// busyLocked counts one more thing in flight; s.mu held.
func (s *Server) busyLocked() {
	s.active++
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
}

// release ends one thing in flight.
func (s *Server) release() {
	s.mu.Lock()
	s.active--
	s.armIdleLocked()
	s.mu.Unlock()
}

// keep turns an answered connection into a kept one, waiting for its next request.
func (s *Server) keep(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept[conn] = struct{}{}
	s.active--
	s.armIdleLocked()
	return true
}

// wake takes a kept connection's next request; false when a switch closed (or is
// closing) it: the request is not taken.
func (s *Server) wake(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kept[conn]; !ok || s.switching {
		delete(s.kept, conn)
		return false
	}
	delete(s.kept, conn)
	s.busyLocked()
	return true
}

// waitSwitchLocked waits (releasing s.mu meanwhile) until no switch is in progress.
func (s *Server) waitSwitchLocked() {
	for s.switching {
		ch := s.switchDone
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
}

func (s *Server) waitSwitch() {
	s.mu.Lock()
	s.waitSwitchLocked()
	s.mu.Unlock()
}

// quietLocked reports why the pod cannot be handed over now ("" if it can); s.mu held.
func (s *Server) quietLocked() string {
	switch {
	case s.active > 0:
		return "busy"
	case s.shuttingDown:
		return "shutting down"
	case s.listener == nil:
		return "not serving"
	}
	select {
	case <-s.stopped:
		return "stopped"
	default:
	}
	if _, ok := s.exec.(Supervisable); !ok {
		return "executor"
	}
	for _, c := range s.containers {
		if c.rec.Status != api.StatusRunning && c.rec.Status != api.StatusStopped {
			return "container " + c.id + " is " + c.rec.Status
		}
	}
	return ""
}

// trySwitch hands the pod to the C body if it is still idle. On any failure before
// the execve the monitor goes on as it was.
func (s *Server) trySwitch() {
	s.mu.Lock()
	if s.switching || s.quietLocked() != "" {
		s.mu.Unlock()
		return
	}
	l, _ := s.listener.(*net.UnixListener)
	acceptEnd := s.acceptEnd
	if l == nil || acceptEnd == nil {
		// Not accepting (yet, or again): the accept loop arms the idle period when it starts.
		s.mu.Unlock()
		return
	}
	s.switching = true
	s.switchDone = make(chan struct{})
	s.mu.Unlock()

	// No new connection is taken; one already queued is the next body's.
	_ = l.SetDeadline(time.Unix(1, 0))
	<-acceptEnd
	// No exit is reaped from now on: a child that exits stays a zombie for the next body.
	s.reaper.pause()
	abort := func(why string, err error) {
		if err != nil {
			s.log.Warn("switch to the C body failed: staying in Go", "why", why, "err", err)
		} else {
			s.log.Debug("switch to the C body aborted", "why", why)
		}
		s.reaper.unpause()
		_ = l.SetDeadline(time.Time{})
		s.mu.Lock()
		s.switching = false
		close(s.switchDone) // the accept loop starts again and arms the idle period
		s.mu.Unlock()
	}
	s.mu.Lock()
	// A connection accepted, or an exit reaped, before the stops above.
	if why := s.quietLocked(); why != "" {
		s.mu.Unlock()
		abort(why, nil)
		return
	}
	// Kept connections are closed unanswered: their clients redo the next request.
	for conn := range s.kept {
		conn.Close()
	}
	s.kept = map[net.Conn]struct{}{}
	cs := make([]*container, 0, len(s.containers))
	for _, c := range s.containers {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })

	stopped := s.stopCopiers(cs)
	h, err := s.handover(l, cs)
	var cleared []int
	if err == nil {
		cleared, err = inheritFds(h.Fds())
	}
	if err == nil {
		s.log.Debug("switching to the C body", "containers", len(h.Containers), "subscribers", len(h.Subs))
		err = s.cfg.Switch(h) // returns only on failure
		for _, fd := range cleared {
			unix.CloseOnExec(fd)
		}
		// A failed exec would fail again: stay in Go.
		s.mu.Lock()
		s.cfg.Idle = 0
		s.mu.Unlock()
	}
	for _, o := range stopped {
		s.runCopier(o.c, o.o)
	}
	abort("handover", err)
}

type stoppedCopier struct {
	c *container
	o *outStream
}

// stopCopiers ends the output copiers without flushing or closing anything: their fds
// and partial lines go to the next body.
func (s *Server) stopCopiers(cs []*container) []stoppedCopier {
	var out []stoppedCopier
	for _, c := range cs {
		c.ioMu.Lock()
		var waits []chan struct{}
		for _, o := range c.outs {
			if o.running {
				o.stopping = true
				_ = o.f.SetReadDeadline(time.Unix(1, 0))
				waits = append(waits, o.stopped)
				out = append(out, stoppedCopier{c, o})
			}
		}
		c.ioMu.Unlock()
		for _, w := range waits {
			<-w
		}
	}
	for _, sc := range out {
		_ = sc.o.f.SetReadDeadline(time.Time{})
	}
	return out
}

// handover describes the pod for the next body; every copier is stopped.
func (s *Server) handover(l *net.UnixListener, cs []*container) (*api.Handover, error) {
	sup := s.exec.(Supervisable)
	h := &api.Handover{Argv: s.cfg.Argv, Listener: fdOf(l)}
	if h.Listener < 0 {
		return nil, errors.New("no listener fd")
	}
	s.mu.Lock()
	for sub := range s.subs {
		if sc, ok := sub.conn.(syscall.Conn); ok {
			if fd := fdOf(sc); fd >= 0 {
				h.Subs = append(h.Subs, fd)
			}
		}
	}
	recs := make([]api.Record, len(cs))
	for i, c := range cs {
		recs[i] = c.rec
	}
	s.mu.Unlock()
	sort.Ints(h.Subs)
	for i, c := range cs {
		hc := api.NewHandoverContainer(recs[i])
		hc.Dir = c.dir
		if c.log != nil {
			if f := c.log.file(); f != nil {
				hc.Log, hc.LogPath, hc.MaxLine = fdOf(f), c.log.path, c.log.maxLine
			}
		}
		c.ioMu.Lock()
		for _, o := range c.outs {
			if !o.stopping {
				continue // ended before the switch: flushed and closed
			}
			fd, pending := fdOf(o.f), o.ls.takePending()
			if o.name == "stdout" {
				hc.Out, hc.PendingOut = fd, pending
			} else {
				hc.Err, hc.PendingErr = fd, pending
			}
		}
		if c.stdin != nil {
			hc.Stdin = fdOf(c.stdin)
		}
		if c.console != nil {
			hc.Console = fdOf(c.console)
		}
		hc.StdinOnce = c.stdinOnce
		c.ioMu.Unlock()
		if c.id != api.InfraID && c.spec != nil {
			sv, err := sup.Supervision(c.spec)
			if err != nil {
				return nil, fmt.Errorf("container %s: %w", c.id, err)
			}
			hc.CgroupProcs = sv.CgroupProcs
			hc.OOMFile, hc.OOMKey, hc.OOMWatch = sv.OOMFile, sv.OOMKey, sv.OOMWatch
		}
		h.Containers = append(h.Containers, hc)
	}
	return h, nil
}

// fdOf returns the descriptor of x without changing its mode (os.File.Fd would make
// it blocking).
func fdOf(x syscall.Conn) int {
	rc, err := x.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1
	}
	return fd
}

// inheritFds clears close-on-exec on fds; on failure it restores what it cleared.
func inheritFds(fds []int) ([]int, error) {
	var cleared []int
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			for _, c := range cleared {
				unix.CloseOnExec(c)
			}
			return nil, fmt.Errorf("fd %d: %w", fd, err)
		}
		cleared = append(cleared, fd)
	}
	return cleared, nil
}

// SwitchExec returns a Config.Switch that re-executes this binary (/proc/self/exe,
// right even if the file was replaced since) with the same command line and the
// handover in a memfd: for its C body (api.HandoverEnv names the memfd), or, with
// toGo, for its Go body at once (--resume): the round trip through the handover
// without the C body, for tests.
func SwitchExec(toGo bool) func(*api.Handover) error {
	return func(h *api.Handover) error {
		b, err := h.Marshal()
		if err != nil {
			return err
		}
		fd, err := unix.MemfdCreate("crid-handover", 0)
		if err != nil {
			return fmt.Errorf("memfd: %w", err)
		}
		defer unix.Close(fd)
		for rest := b; len(rest) > 0; {
			n, err := unix.Write(fd, rest)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("writing the handover: %w", err)
			}
			rest = rest[n:]
		}
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			return err
		}
		env := make([]string, 0, len(os.Environ())+1)
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, api.HandoverEnv+"=") {
				env = append(env, e)
			}
		}
		argv := append([]string{}, h.Argv...)
		if toGo {
			argv = append(argv, ResumeFlag, strconv.Itoa(fd))
		} else {
			env = append(env, api.HandoverEnv+"="+strconv.Itoa(fd))
		}
		err = execHoldingSignals(argv, env, !toGo)
		return fmt.Errorf("exec: %w", err)
	}
}

// execHoldingSignals execs this binary with SIGTERM, SIGINT and SIGCHLD blocked on
// the exec'ing thread, and for the C body (toC) the signals Go drops unasked too:
// the mask survives execve, so one arriving between the execve and the moment the
// next body takes them (Go's handlers are reset by the exec) waits, pending, for the
// C body's signalfd, its SIG_IGN (which unblocks them again) or Go's runtime, instead
// of ending the monitor by its default action. Go's runtime unblocks only the first
// three itself: a Go body must not start with the others blocked (its children would
// inherit them). Another thread may still take one before the exec, as it would have
// anyway. On failure the mask is restored.
func execHoldingSignals(argv, env []string, toC bool) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigs := []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGCHLD}
	if toC {
		// What supervise.c's ignore_dropped ignores, and unblocks.
		sigs = append(sigs, unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM, unix.SIGIO, unix.SIGPWR, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM)
		for s := unix.Signal(35); s <= 64; s++ {
			sigs = append(sigs, s)
		}
	}
	var hold, old unix.Sigset_t
	w := unix.Signal(8 * unsafe.Sizeof(hold.Val[0])) // bits per word of the set
	for _, sig := range sigs {
		hold.Val[(sig-1)/w] |= 1 << ((sig - 1) % w)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &hold, &old); err != nil {
		return err
	}
	err := syscall.Exec("/proc/self/exe", argv, env) //nolint:gosec // re-executes itself
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

// ResumeFlag is the monitor's flag naming the memfd of a handover to resume from.
const ResumeFlag = "--resume"
