package server

import (
	"bytes"
	"os"
	"sync"
	"time"
)

// DefaultMaxLine is the longest log entry before a line is split into partial (P)
// entries, as containerd's max_container_log_line_size.
const DefaultMaxLine = 16 << 10

// LogWriter writes a container's output in the CRI log format kubelet reads:
//
//	<RFC3339Nano time> <stdout|stderr> <P|F> <content>\n
//
// F ends a line; P is a piece of a longer line, or the unterminated tail of the
// output when the container exits. Both streams of a container share one file
// and one lock, so an entry is never interleaved with another.
type LogWriter struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	maxLine int
	out     []byte
	err     error            // the last write error, reported once by the caller
	now     func() time.Time // tests fix the clock
}

// OpenLog opens (appending) the CRI log at path.
func OpenLog(path string, maxLine int) (*LogWriter, error) {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	return &LogWriter{path: path, f: f, maxLine: maxLine, now: time.Now}, nil
}

func openLogFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// Reopen opens the log path again: kubelet renamed the file to rotate it and
// wants new output in a new file at the same path.
func (l *LogWriter) Reopen() error {
	f, err := openLogFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file; later writes are dropped.
func (l *LogWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Stream returns the writer for one of the container's streams ("stdout" or "stderr").
// A Stream holds the partial line of its stream; it is not safe for concurrent use
// (one copier goroutine per stream writes to it).
func (l *LogWriter) Stream(name string) *LogStream {
	return &LogStream{log: l, name: name}
}

// LogStream splits one stream's bytes into CRI log entries.
type LogStream struct {
	log     *LogWriter
	name    string
	pending []byte // an unterminated line, at most maxLine bytes
}

// Write logs p; it never fails so that a full disk does not stall the container
// (the error is kept in LogWriter.Err).
func (s *LogStream) Write(p []byte) (int, error) {
	if s == nil || s.log == nil {
		return len(p), nil
	}
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	out := l.out[:0]
	n := len(p)
	for len(p) > 0 {
		seg, full := p, false
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			seg, p, full = p[:i], p[i+1:], true
		} else {
			p = nil
		}
		// Emit P pieces while the line is longer than maxLine; a piece of exactly
		// maxLine waits, for the newline may come next and make it an F.
		for len(s.pending)+len(seg) > l.maxLine {
			take := l.maxLine - len(s.pending)
			if len(s.pending) > 0 {
				s.pending = append(s.pending, seg[:take]...)
				out = s.entry(out, now, 'P', s.pending)
				s.pending = s.pending[:0]
			} else {
				out = s.entry(out, now, 'P', seg[:take])
			}
			seg = seg[take:]
		}
		switch {
		case !full:
			s.pending = append(s.pending, seg...)
		case len(s.pending) > 0:
			s.pending = append(s.pending, seg...)
			out = s.entry(out, now, 'F', s.pending)
			s.pending = s.pending[:0]
		default:
			out = s.entry(out, now, 'F', seg)
		}
	}
	l.write(out)
	s.shrink()
	return n, nil
}

// Flush logs the unterminated tail, if any, as a P entry: the stream ended.
func (s *LogStream) Flush() {
	if s == nil || s.log == nil || len(s.pending) == 0 {
		return
	}
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	out := s.entry(l.out[:0], l.now(), 'P', s.pending)
	s.pending = s.pending[:0]
	l.write(out)
	s.shrink()
}

func (s *LogStream) entry(out []byte, now time.Time, tag byte, content []byte) []byte {
	out = now.AppendFormat(out, time.RFC3339Nano)
	out = append(out, ' ')
	out = append(out, s.name...)
	out = append(out, ' ', tag, ' ')
	out = append(out, content...)
	return append(out, '\n')
}

// shrink drops buffers grown by a burst: a pod's monitor should stay small at rest.
func (s *LogStream) shrink() {
	if len(s.pending) == 0 && cap(s.pending) > 4<<10 {
		s.pending = nil
	}
	if cap(s.log.out) > 64<<10 {
		s.log.out = nil
	}
}

// write must be called with l.mu held.
func (l *LogWriter) write(out []byte) {
	if cap(out) > cap(l.out) {
		l.out = out[:0]
	}
	if len(out) == 0 || l.f == nil {
		return
	}
	if _, err := l.f.Write(out); err != nil {
		l.err = err
	}
}

// Err returns and clears the last write error.
func (l *LogWriter) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.err
	l.err = nil
	return err
}

// adoptLog makes a LogWriter of a log file another body of the monitor opened.
func adoptLog(f *os.File, path string, maxLine int) *LogWriter {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &LogWriter{path: path, f: f, maxLine: maxLine, now: time.Now}
}

// file returns the open log file (nil once closed).
func (l *LogWriter) file() *os.File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f
}

// takePending returns a copy of the partial line the stream holds.
func (s *LogStream) takePending() []byte {
	if s == nil || s.log == nil {
		return nil
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	return append([]byte(nil), s.pending...)
}

// setPending gives the stream a partial line another body of the monitor read.
func (s *LogStream) setPending(p []byte) {
	if s == nil || s.log == nil || len(p) == 0 {
		return
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.pending = append(s.pending[:0], p...)
}
