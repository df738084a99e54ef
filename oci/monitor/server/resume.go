package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// lostExitCode is recorded for a container whose exit no body of the monitor saw.
const lostExitCode = 255

// ReadHandover reads and closes the handover memfd another body of the monitor left.
func ReadHandover(fd int) (*api.Handover, error) {
	f := os.NewFile(uintptr(fd), "handover")
	if f == nil {
		return nil, fmt.Errorf("handover fd %d", fd)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the handover: %w", err)
	}
	return api.ParseHandover(b)
}

// Resume rebuilds the monitor of a pod from a handover (the C body's, or a Go body's
// that exec'd itself) and the container dirs: the same pid, so the containers are
// still its children; their exits while the other body ran are zombies that the
// reaper's first pass collects, for every live pid is registered before Serve.
// Serve the returned listener.
func Resume(cfg Config, h *api.Handover) (*Server, net.Listener, error) {
	s := New(cfg)
	files := map[int]*os.File{}
	// file wraps an inherited fd once (stdin and console may be the same fd).
	file := func(fd int, name string, pollable bool) (*os.File, error) {
		if fd < 0 {
			return nil, nil
		}
		if f := files[fd]; f != nil {
			return f, nil
		}
		unix.CloseOnExec(fd)
		if pollable {
			// Served by the poller, as the pipes the monitor makes.
			if err := unix.SetNonblock(fd, true); err != nil {
				return nil, fmt.Errorf("%s fd %d: %w", name, fd, err)
			}
		}
		f := os.NewFile(uintptr(fd), name)
		files[fd] = f
		return f, nil
	}
	fail := func(err error) (*Server, net.Listener, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, fmt.Errorf("resuming: %w", err)
	}
	conn := func(fd int, name string) (net.Conn, error) {
		unix.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), name)
		defer f.Close() // FileConn made its own
		return net.FileConn(f)
	}

	unix.CloseOnExec(h.Listener)
	lf := os.NewFile(uintptr(h.Listener), "listener")
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return fail(fmt.Errorf("listener: %w", err))
	}
	if ul, ok := l.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	for _, fd := range h.Subs {
		c, err := conn(fd, "subscriber")
		if err != nil {
			// A client gone meanwhile: it resubscribes and gets the replay.
			s.log.Warn("resuming a subscriber", "fd", fd, "err", err)
			continue
		}
		s.subs[&subscriber{conn: c}] = struct{}{}
	}
	if h.Conn > 0 {
		if s.resumeConn, err = conn(h.Conn, "conn"); err != nil {
			s.log.Warn("resuming the accepted connection", "err", err)
		}
	}
	if h.Signal > 0 {
		s.resumeSignal = unix.Signal(h.Signal)
	}

	var outs []struct {
		c       *container
		f       *os.File
		name    string
		typ     byte
		pending []byte
	}
	for _, hc := range h.Containers {
		if want := api.ContainerDir(cfg.StateDir, hc.ID); filepath.Clean(hc.Dir) != want {
			return fail(fmt.Errorf("container %s: dir %q, want %q", hc.ID, hc.Dir, want))
		}
		spec, err := readSpec(hc.Dir)
		if err != nil {
			return fail(fmt.Errorf("container %s: %w", hc.ID, err))
		}
		c := &container{
			id: hc.ID, dir: hc.Dir, spec: spec, rec: hc.Record,
			reaped: hc.Status == api.StatusStopped, done: make(chan struct{}),
			stdinOnce: hc.StdinOnce, attaches: map[*attachSession]struct{}{},
		}
		if c.reaped {
			close(c.done)
		}
		if hc.Log >= 0 {
			f, err := file(hc.Log, "log", false)
			if err != nil {
				return fail(err)
			}
			c.log = adoptLog(f, hc.LogPath, hc.MaxLine)
		}
		if c.console, err = file(hc.Console, "console", true); err != nil {
			return fail(err)
		}
		if c.stdin, err = file(hc.Stdin, "stdin", true); err != nil {
			return fail(err)
		}
		for _, o := range []struct {
			fd      int
			name    string
			typ     byte
			pending []byte
		}{{hc.Out, "stdout", api.FrameStdout, hc.PendingOut}, {hc.Err, "stderr", api.FrameStderr, hc.PendingErr}} {
			f, err := file(o.fd, o.name, true)
			if err != nil {
				return fail(err)
			}
			if f != nil {
				outs = append(outs, struct {
					c       *container
					f       *os.File
					name    string
					typ     byte
					pending []byte
				}{c, f, o.name, o.typ, o.pending})
			}
		}
		s.containers[c.id] = c
	}
	// Nothing failed: from here the server owns every fd.
	for _, o := range outs {
		s.copyContainerOutputFrom(o.c, o.f, o.name, o.typ, o.pending)
	}
	adopter, _ := s.exec.(Adopter)
	for _, c := range s.containers {
		if c.id != api.InfraID && !c.reaped && adopter != nil {
			if err := adopter.Adopt(c.spec, c.rec.Pid); err != nil {
				s.log.Warn("executor: adopting a container", "id", c.id, "err", err)
			}
		}
		if c.reaped {
			continue
		}
		if st, err := api.ProcStartTime(c.rec.Pid); err != nil || (c.rec.StartTime != 0 && st != c.rec.StartTime) {
			// Not our child any more (a zombie would still be there): the other body
			// reaped it without recording the exit. Its code is lost; the container must
			// not stay running for ever, nor may its pid (maybe reused) be signalled.
			s.log.Error("a running container's init is gone: its exit was lost", "id", c.id, "pid", c.rec.Pid)
			c.reaped = true
			s.active++
			go s.finishExit(c, lostExitCode)
			continue
		}
		s.reaper.register(c.rec.Pid, func(ws unix.WaitStatus) { s.containerExited(c, ws) })
	}
	for sub := range s.subs {
		go s.watchSubscriber(sub, nil) // forgets it when its client goes away
	}
	s.trimSoon() // the specs' decoding garbage
	return s, l, nil
}

func readSpec(dir string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	return &spec, nil
}
