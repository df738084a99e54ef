package oci

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"
)

// syncMsg is one framed message (4-byte little-endian length, then JSON) on the
// socketpair between the executor (parent) and the init or exec child. The
// nsenter constructor writes the first one ({"pid":N}) in C.
type syncMsg struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
	// InvalidSpec: the spec caused Error (see ErrInvalidSpec).
	InvalidSpec bool        `json:"invalidSpec,omitempty"`
	Ready       bool        `json:"ready,omitempty"`
	Start       bool        `json:"start,omitempty"`
	Console     bool        `json:"console,omitempty"` // an fd (the pty master) rides along
	Config      *initConfig `json:"config,omitempty"`
	// Hooks: the init is about to pivot_root and asks the executor to run the prestart
	// and createRuntime hooks; the answer carries State for its own hooks.
	Hooks bool         `json:"hooks,omitempty"`
	State *specs.State `json:"state,omitempty"`
}

const maxSyncMsg = 16 << 20

func writeMsg(f *os.File, m syncMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(b))
	binary.LittleEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = f.Write(buf)
	return err
}

// readMsg reads one message; io.EOF means the peer closed (for the child: execve succeeded).
func readMsg(f *os.File) (syncMsg, error) {
	var m syncMsg
	var hdr [4]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return m, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > maxSyncMsg {
		return m, fmt.Errorf("sync message too large (%d bytes)", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("bad sync message: %w", err)
	}
	return m, nil
}

// sendFd passes fd over the unix socket s with SCM_RIGHTS.
func sendFd(s *os.File, fd int) error {
	rc, err := s.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(sfd uintptr) bool {
		serr = unix.Sendmsg(int(sfd), []byte{0}, unix.UnixRights(fd), nil, 0)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// recvFd receives one fd sent by sendFd.
func recvFd(s *os.File, name string) (*os.File, error) {
	fd, err := recvRawFd(s)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// recvRawFd receives one fd the caller closes itself. Not an *os.File: its
// finalizer would close the number again after the caller did, maybe then
// another fd (the init keeps only numbers of the mounts it attaches).
func recvRawFd(s *os.File) (int, error) {
	rc, err := s.SyscallConn()
	if err != nil {
		return -1, err
	}
	oob := make([]byte, unix.CmsgSpace(4))
	var (
		oobn int
		rerr error
	)
	err = rc.Read(func(sfd uintptr) bool {
		_, oobn, _, _, rerr = unix.Recvmsg(int(sfd), make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return -1, err
	}
	if rerr != nil {
		return -1, rerr
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("no fd received: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("no fd received: %v", err)
	}
	return fds[0], nil
}

// socketPair returns (parent, child) ends, both close-on-exec; the child end is
// passed explicitly as an inherited fd.
func socketPair(name string) (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	// Non-blocking parent end: Go's poller then honours deadlines (ctx cancel).
	_ = unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), name+"-parent"), os.NewFile(uintptr(fds[1]), name+"-child"), nil
}
