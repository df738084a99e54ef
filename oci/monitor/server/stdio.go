package server

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// pipe returns a pipe whose monitor end is non-blocking (served by Go's poller)
// and whose container end stays blocking: the two ends are separate open file
// descriptions, so O_NONBLOCK on ours never leaks into the container.
func pipe(monitorReads bool) (mine, theirs *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	m, t := p[0], p[1]
	if !monitorReads {
		m, t = p[1], p[0]
	}
	if err := unix.SetNonblock(m, true); err != nil {
		unix.Close(m)
		unix.Close(t)
		return nil, nil, err
	}
	return os.NewFile(uintptr(m), "monitor-pipe"), os.NewFile(uintptr(t), "container-pipe"), nil
}

// pollable returns f as a non-blocking file the poller serves (the executor may
// hand over a blocking pty master). It consumes f.
func pollable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	f.Close()
	if derr != nil {
		return nil, derr
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, err
	}
	return os.NewFile(uintptr(nfd), "console"), nil
}

// bufPool holds read buffers. A copier takes one only when its fd is readable, so
// an idle container holds no buffer: most of a pod's life is idle.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// copyOut calls sink with every chunk read from f until EOF or an error (EIO on a
// pty whose other side closed), then returns.
func copyOut(f *os.File, sink func([]byte)) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			bp := bufPool.Get().(*[]byte)
			defer bufPool.Put(bp)
			for {
				n, rerr = unix.Read(int(fd), *bp)
				if rerr != unix.EINTR {
					break
				}
			}
			if rerr == unix.EAGAIN {
				return false // park until readable, holding no buffer
			}
			if n > 0 {
				sink((*bp)[:n])
			}
			return true
		})
		if err != nil || rerr != nil || n <= 0 {
			return
		}
	}
}

// setWinsize resizes the pty whose master is f.
func setWinsize(f *os.File, width, height uint16) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: width, Row: height})
	})
	if err != nil {
		return err
	}
	return ierr
}

// closeAll closes the non-nil files.
func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}
