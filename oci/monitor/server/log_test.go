package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var fixed = time.Date(2026, 11, 22, 6, 0, 0, 123456789, time.UTC)

func newTestLog(t *testing.T, maxLine int) (*LogWriter, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := OpenLog(path, maxLine)
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return fixed }
	t.Cleanup(func() { l.Close() })
	return l, path
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const ts = "2026-11-22T06:00:00.123456789Z"

func TestLogFormat(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		flush  bool
		want   []string
	}{
		{"one line", 0, []string{"hello\n"}, false, []string{"stdout F hello"}},
		{"two lines one write", 0, []string{"a\nb\n"}, false, []string{"stdout F a", "stdout F b"}},
		{"empty line", 0, []string{"\n"}, false, []string{"stdout F "}},
		{"line across writes", 0, []string{"hel", "lo\nwor", "ld\n"}, false, []string{"stdout F hello", "stdout F world"}},
		{"partial kept until flush", 0, []string{"prompt> "}, true, []string{"stdout P prompt> "}},
		{"partial without flush writes nothing", 0, []string{"prompt> "}, false, nil},
		{"split at max", 4, []string{"abcdefghij\n"}, false, []string{"stdout P abcd", "stdout P efgh", "stdout F ij"}},
		{"exactly max is one F", 4, []string{"abcd\n"}, false, []string{"stdout F abcd"}},
		{"exactly max then newline later", 4, []string{"abcd", "\n"}, false, []string{"stdout F abcd"}},
		{"pending plus long segment", 4, []string{"ab", "cdefg\n"}, false, []string{"stdout P abcd", "stdout F efg"}},
		{"long partial then flush", 4, []string{"abcdef"}, true, []string{"stdout P abcd", "stdout P ef"}},
		{"crlf kept", 0, []string{"x\r\n"}, false, []string{"stdout F x\r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, path := newTestLog(t, tt.max)
			s := l.Stream("stdout")
			for _, w := range tt.writes {
				if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tt.flush {
				s.Flush()
			}
			var want string
			for _, w := range tt.want {
				want += ts + " " + w + "\n"
			}
			if got := readLog(t, path); got != want {
				t.Errorf("log:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestLogStreamsShareFile(t *testing.T) {
	l, path := newTestLog(t, 0)
	out, errs := l.Stream("stdout"), l.Stream("stderr")
	_, _ = out.Write([]byte("o1 "))
	_, _ = errs.Write([]byte("e1\n"))
	_, _ = out.Write([]byte("o2\n"))
	want := ts + " stderr F e1\n" + ts + " stdout F o1 o2\n"
	if got := readLog(t, path); got != want {
		t.Errorf("log:\n%q\nwant\n%q", got, want)
	}
}

func TestLogReopen(t *testing.T) {
	l, path := newTestLog(t, 0)
	s := l.Stream("stdout")
	_, _ = s.Write([]byte("before\n"))
	// kubelet rotates: rename, then ask for a reopen.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Write([]byte("still old\n"))
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Write([]byte("after\n"))
	if got, want := readLog(t, path+".1"), ts+" stdout F before\n"+ts+" stdout F still old\n"; got != want {
		t.Errorf("rotated log %q, want %q", got, want)
	}
	if got, want := readLog(t, path), ts+" stdout F after\n"; got != want {
		t.Errorf("new log %q, want %q", got, want)
	}
}

func TestLogTimestampParses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := OpenLog(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := time.Now()
	_, _ = l.Stream("stderr").Write([]byte("x\n"))
	f := strings.SplitN(readLog(t, path), " ", 4)
	if len(f) != 4 || f[1] != "stderr" || f[2] != "F" || f[3] != "x\n" {
		t.Fatalf("entry %q", f)
	}
	got, err := time.Parse(time.RFC3339Nano, f[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %v not now", got)
	}
}

func TestLogLargeWriteSplitsAtDefaultMax(t *testing.T) {
	l, path := newTestLog(t, 0)
	line := strings.Repeat("x", DefaultMaxLine*2+10)
	_, _ = l.Stream("stdout").Write([]byte(line + "\n"))
	entries := strings.Split(strings.TrimSuffix(readLog(t, path), "\n"), "\n")
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3", len(entries))
	}
	for i, tag := range []string{"P", "P", "F"} {
		f := strings.SplitN(entries[i], " ", 4)
		if f[2] != tag {
			t.Errorf("entry %d tag %s, want %s", i, f[2], tag)
		}
	}
	if n := len(strings.SplitN(entries[2], " ", 4)[3]); n != 10 {
		t.Errorf("last piece %d bytes, want 10", n)
	}
}
