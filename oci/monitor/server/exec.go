package server

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// serveExec runs a process in a running container and streams its stdio over conn
// until it exits; then a FrameExit carries the exit code. The client closing conn
// (its context was cancelled) kills the process.
func (s *Server) serveExec(conn net.Conn, req *api.Request) {
	defer conn.Close()
	defer s.trimSoon()
	code, err := s.runExec(conn, req)
	if err != nil {
		_ = api.WriteJSON(conn, api.ErrorResponse(err))
		return
	}
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(code))
	_ = api.WriteFrame(conn, api.FrameExit, p[:])
}

func (s *Server) runExec(conn net.Conn, req *api.Request) (int, error) {
	c, err := s.lookup(req.ID)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	running, pid := c.rec.Status == api.StatusRunning && !c.reaped, c.rec.Pid
	s.mu.Unlock()
	if !running {
		return 0, api.Errorf(api.CodeFailedPrecondition, "container %q is not running", req.ID)
	}
	if req.Process == nil || len(req.Process.Args) == 0 {
		return 0, api.Errorf(api.CodeInvalidArgument, "exec in %q: no process", req.ID)
	}
	proc := *req.Process
	proc.Terminal = req.Terminal

	var stdio Stdio
	var stdin, stdout, stderr *os.File
	var theirs []*os.File
	defer func() { closeAll(theirs...) }()
	fail := func(err error) (int, error) {
		closeAll(stdin, stdout, stderr)
		return 0, err
	}
	if !req.Terminal {
		if stdout, stdio.Stdout, err = pipe(true); err != nil {
			return fail(err)
		}
		theirs = append(theirs, stdio.Stdout)
		if stderr, stdio.Stderr, err = pipe(true); err != nil {
			return fail(err)
		}
		theirs = append(theirs, stdio.Stderr)
		if req.Stdin {
			if stdin, stdio.Stdin, err = pipe(false); err != nil {
				return fail(err)
			}
			theirs = append(theirs, stdio.Stdin)
		}
	}

	var mu sync.Mutex // guards reaped: the pid is ours to kill until reaped
	reaped := false
	exited := make(chan int, 1)
	s.reaper.beginSpawn()
	epid, console, err := s.exec.Exec(context.Background(), ExecOptions{
		ContainerPid: pid, Spec: c.spec, Process: &proc, Stdio: stdio,
	})
	if err == nil {
		s.reaper.register(epid, func(ws unix.WaitStatus) {
			mu.Lock()
			reaped = true
			mu.Unlock()
			exited <- exitCode(ws)
		})
	}
	s.reaper.endSpawn()
	if err != nil {
		return fail(err)
	}
	closeAll(theirs...)
	theirs = nil
	kill := func() {
		mu.Lock()
		if !reaped {
			unix.Kill(epid, unix.SIGKILL)
		}
		mu.Unlock()
	}
	if console != nil {
		if console, err = pollable(console); err != nil {
			kill()
			return fail(err)
		}
		stdout = console
		if req.Stdin {
			stdin = console
		}
	}

	var wmu sync.Mutex
	send := func(typ byte, b []byte) {
		wmu.Lock()
		_ = api.WriteFrame(conn, typ, b)
		wmu.Unlock()
	}
	wmu.Lock()
	err = api.WriteJSON(conn, &api.Response{Pid: epid})
	wmu.Unlock()
	if err != nil {
		kill()
	}

	var outputs sync.WaitGroup
	for _, o := range []struct {
		f   *os.File
		typ byte
	}{{stdout, api.FrameStdout}, {stderr, api.FrameStderr}} {
		if o.f == nil {
			continue
		}
		outputs.Add(1)
		go func() {
			defer outputs.Done()
			copyOut(o.f, func(b []byte) { send(o.typ, b) })
		}()
	}
	go func() {
		var buf []byte
		for {
			typ, p, nb, err := api.ReadFrame(conn, buf)
			buf = nb
			if err != nil {
				// The client is gone (or cancelled): the process goes with it.
				kill()
				return
			}
			switch typ {
			case api.FrameStdin:
				if stdin != nil {
					_, _ = stdin.Write(p)
				}
			case api.FrameEOF:
				if stdin != nil && stdin != console {
					stdin.Close()
				} else if stdin != nil {
					_, _ = console.Write([]byte{4})
				}
			case api.FrameResize:
				if console != nil && len(p) == 4 {
					_ = setWinsize(console, binary.BigEndian.Uint16(p[:2]), binary.BigEndian.Uint16(p[2:]))
				}
			}
		}
	}()

	code := <-exited
	waitTimeout(&outputs, drainTimeout)
	// Closing our ends ends copiers still held open by an escaped grandchild.
	closeAll(stdout, stderr)
	if stdin != nil && stdin != console {
		stdin.Close()
	}
	outputs.Wait()
	return code, nil
}
