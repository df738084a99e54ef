package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// consoleSocket receives the pty master an OCI runtime makes for a terminal container
// (`--console-socket`): the runtime connects and sends the fd with SCM_RIGHTS. The
// socket lives in a fresh 0700 directory under /tmp: short enough for sun_path
// whatever the state dir, reachable by root only, and never an abstract socket.
type consoleSocket struct {
	dir string
	l   *net.UnixListener
}

func newConsoleSocket() (*consoleSocket, error) {
	dir, err := os.MkdirTemp("", "crid-console-")
	if err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &consoleSocket{dir: dir, l: l}, nil
}

func (c *consoleSocket) Path() string { return filepath.Join(c.dir, "s") }

// Receive takes the pty master the runtime sent. The runtime has exited by now, its
// connection waits in the backlog: the timeout only guards a runtime that never sent.
func (c *consoleSocket) Receive(timeout time.Duration) (*os.File, error) {
	if err := c.l.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	conn, err := c.l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096) // the runtime sends the pty's name as data
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds[1:] {
			unix.Close(fd) // only one was asked for
		}
		if len(fds) > 0 {
			unix.CloseOnExec(fds[0])
			return os.NewFile(uintptr(fds[0]), "console"), nil
		}
	}
	return nil, errors.New("no fd received on the console socket")
}

func (c *consoleSocket) Close() {
	c.l.Close()
	os.RemoveAll(c.dir)
}
