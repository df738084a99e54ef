package cli

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// terminal puts this process's terminal in raw mode for an -it session and reports its
// size on every SIGWINCH.
type terminal struct {
	in      *os.File
	out     *os.File
	restore func()
	resize  chan termSize
	stop    chan struct{}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// openTerminal returns nil, nil when stdin is not a terminal (docker refuses -t then
// with "the input device is not a TTY"; so does the caller).
func openTerminal(in, out *os.File) (*terminal, error) {
	st, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return nil, err
	}
	t := &terminal{in: in, out: out, resize: make(chan termSize, 1), stop: make(chan struct{})}
	t.restore = func() { _ = term.Restore(int(in.Fd()), st) }
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	t.sendSize()
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-winch:
				t.sendSize()
			case <-t.stop:
				close(t.resize)
				return
			}
		}
	}()
	return t, nil
}

func (t *terminal) sendSize() {
	w, h, err := term.GetSize(int(t.out.Fd()))
	if err != nil {
		return
	}
	select {
	case <-t.resize: // drop a size not yet sent: only the newest matters
	default:
	}
	t.resize <- termSize{Width: uint16(w), Height: uint16(h)}
}

func (t *terminal) Close() {
	close(t.stop)
	t.restore()
}

// detachKeys is docker's default escape sequence, ctrl-p ctrl-q.
var detachKeys = []byte{0x10, 0x11}

// errDetached ends a detachReader: the user typed the detach keys. It is not io.EOF on
// purpose: EOF on stdin is forwarded as a close of the remote process's stdin, which would
// end a shell that detaching must leave running.
var errDetached = errors.New("detached")

// detachReader passes stdin through until the detach sequence, then reports errDetached
// and closes detached. A partial sequence followed by anything else is passed on as typed.
type detachReader struct {
	r        io.Reader
	matched  int
	done     bool
	detached chan struct{}
	pending  []byte
}

func newDetachReader(r io.Reader) *detachReader {
	return &detachReader{r: r, detached: make(chan struct{})}
}

func (d *detachReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.done {
			return 0, errDetached
		}
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		for _, b := range buf[:n] {
			if b == detachKeys[d.matched] {
				d.matched++
				if d.matched == len(detachKeys) {
					d.done = true
					close(d.detached)
					break
				}
				continue
			}
			d.pending = append(d.pending, detachKeys[:d.matched]...)
			d.matched = 0
			if b == detachKeys[0] {
				d.matched = 1
				continue
			}
			d.pending = append(d.pending, b)
		}
		if err != nil && len(d.pending) == 0 {
			return 0, err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}
