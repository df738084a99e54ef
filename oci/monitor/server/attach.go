package server

import (
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// attachSession is one client attached to a container's stdio.
type attachSession struct {
	mu             sync.Mutex // serialises frames to conn
	conn           net.Conn
	stdout, stderr bool
}

// fanWriteTimeout drops an attached client that stops reading: the container's
// output (and its log) must not stall behind it.
const fanWriteTimeout = 2 * time.Second

// fanout sends a chunk of the container's output to the attached clients.
func (c *container) fanout(typ byte, b []byte) {
	c.ioMu.Lock()
	defer c.ioMu.Unlock()
	for a := range c.attaches {
		if (typ == api.FrameStdout && !a.stdout) || (typ == api.FrameStderr && !a.stderr) {
			continue
		}
		a.mu.Lock()
		a.conn.SetWriteDeadline(time.Now().Add(fanWriteTimeout))
		err := api.WriteFrame(a.conn, typ, b)
		a.mu.Unlock()
		if err != nil {
			a.conn.Close()
			delete(c.attaches, a)
		}
	}
}

// endAttaches tells the attached clients the container exited and lets them go.
func (c *container) endAttaches(code int) {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(code))
	c.ioMu.Lock()
	defer c.ioMu.Unlock()
	for a := range c.attaches {
		a.mu.Lock()
		a.conn.SetWriteDeadline(time.Now().Add(fanWriteTimeout))
		_ = api.WriteFrame(a.conn, api.FrameExit, p[:])
		a.mu.Unlock()
		a.conn.Close()
	}
	c.attaches = map[*attachSession]struct{}{}
	// Nothing reads the container's stdin any more.
	if c.stdin != nil && c.stdin != c.console {
		c.stdin.Close()
	}
	c.stdin = nil
}

// closeStdin gives the container EOF on stdin (StdinOnce after the first attach).
func (c *container) closeStdin() {
	c.ioMu.Lock()
	defer c.ioMu.Unlock()
	if c.stdin == nil {
		return
	}
	if c.stdin == c.console {
		// A tty has no half-close: send the terminal's EOF character.
		_, _ = c.console.Write([]byte{4})
	} else {
		c.stdin.Close()
	}
	c.stdin = nil
}

func (s *Server) serveAttach(conn net.Conn, req *api.Request) {
	defer conn.Close()
	c, err := s.lookup(req.ID)
	if err == nil {
		s.mu.Lock()
		if c.rec.Status == api.StatusStopped {
			err = api.Errorf(api.CodeFailedPrecondition, "container %q is not running", req.ID)
		}
		s.mu.Unlock()
	}
	if err != nil {
		_ = api.WriteJSON(conn, api.ErrorResponse(err))
		return
	}
	a := &attachSession{conn: conn, stdout: req.Stdout, stderr: req.Stderr}
	if c.console != nil {
		a.stdout, a.stderr = req.Stdout || req.Stderr, false
	}
	// The answer goes out before the first output frame: take a.mu before joining.
	a.mu.Lock()
	c.ioMu.Lock()
	c.attaches[a] = struct{}{}
	c.ioMu.Unlock()
	err = api.WriteJSON(conn, &api.Response{})
	a.mu.Unlock()

	useStdin := req.Stdin
	var buf []byte
	for err == nil {
		var typ byte
		var p []byte
		typ, p, buf, err = api.ReadFrame(conn, buf)
		if err != nil {
			break
		}
		switch typ {
		case api.FrameStdin:
			if useStdin {
				c.writeStdin(p)
			}
		case api.FrameEOF:
			if useStdin && c.stdinOnce {
				c.closeStdin()
			}
			useStdin = false
		case api.FrameResize:
			if len(p) == 4 && c.console != nil {
				_ = setWinsize(c.console, binary.BigEndian.Uint16(p[:2]), binary.BigEndian.Uint16(p[2:]))
			}
		}
	}
	c.ioMu.Lock()
	delete(c.attaches, a)
	c.ioMu.Unlock()
	if req.Stdin && c.stdinOnce {
		c.closeStdin()
	}
}

func (c *container) writeStdin(p []byte) {
	c.ioMu.Lock()
	f := c.stdin
	c.ioMu.Unlock()
	if f == nil {
		return
	}
	// Outside ioMu: a container that does not read its stdin blocks only this client.
	// Errors (the container closed its stdin, or exited) end nothing: the exit does.
	_, _ = f.Write(p)
}
