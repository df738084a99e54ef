package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzLogWriter writes a container's arbitrary output, cut into writes at arbitrary
// points and spread over both streams, through the CRI log writer. Every entry is
// "<time> <stream> <P|F> <content>" with no newline inside and at most maxLine bytes of
// content, and each stream's entries give back exactly the bytes it wrote: kubelet reads
// the file, and a container's output must neither break its format nor lose a byte.
func FuzzLogWriter(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 0, 5}, uint8(0))
	f.Add([]byte("prompt> "), []byte{}, uint8(4))
	f.Add([]byte("abcdefghij\nab\r\n\n\n"), []byte{1, 1, 1, 1, 1, 1, 1}, uint8(4))
	f.Add(bytes.Repeat([]byte("x"), 70000), []byte{200, 17}, uint8(0))
	f.Add([]byte("\x00\xff\n \t P F\n"), []byte{2, 128}, uint8(1))
	// One dir per fuzzing process and one file per input: a TempDir per input would cost
	// more than the writer itself.
	dir := f.TempDir()
	var n int
	f.Fuzz(func(t *testing.T, data, cuts []byte, maxByte uint8) {
		maxLine := int(maxByte) // 0: the default
		n++
		path := filepath.Join(dir, strconv.Itoa(n)+".log")
		l, err := OpenLog(path, maxLine)
		if err != nil {
			t.Fatal(err)
		}
		l.now = func() time.Time { return fixed }
		defer os.Remove(path)
		defer l.Close()
		if maxLine == 0 {
			maxLine = DefaultMaxLine
		}
		streams := [2]*LogStream{l.Stream("stdout"), l.Stream("stderr")}
		var want [2][]byte
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			which := 0
			if i < len(cuts) {
				n = min(len(rest), int(cuts[i]&0x7f)+1)
				which = int(cuts[i] >> 7)
			}
			if w, err := streams[which].Write(rest[:n]); w != n || err != nil {
				t.Fatalf("Write(%d bytes) = %d, %v", n, w, err)
			}
			want[which] = append(want[which], rest[:n]...)
			rest = rest[n:]
		}
		streams[0].Flush()
		streams[1].Flush()
		if err := l.Err(); err != nil {
			t.Fatal(err)
		}
		var got [2][]byte
		content := readLog(t, path)
		if content != "" && !strings.HasSuffix(content, "\n") {
			t.Fatalf("log does not end with a newline")
		}
		for _, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
			if content == "" {
				break
			}
			parts := strings.SplitN(line, " ", 4)
			if len(parts) != 4 || parts[0] != ts || (parts[2] != "P" && parts[2] != "F") {
				t.Fatalf("malformed entry %q", line)
			}
			which := map[string]int{"stdout": 0, "stderr": 1}
			s, ok := which[parts[1]]
			if !ok {
				t.Fatalf("entry of stream %q", parts[1])
			}
			if len(parts[3]) > maxLine {
				t.Fatalf("entry of %d bytes, max %d", len(parts[3]), maxLine)
			}
			got[s] = append(got[s], parts[3]...)
			if parts[2] == "F" {
				got[s] = append(got[s], '\n')
			}
		}
		for s := range 2 {
			if !bytes.Equal(got[s], want[s]) {
				t.Fatalf("stream %d: log gives back %q, wrote %q", s, got[s], want[s])
			}
		}
	})
}
