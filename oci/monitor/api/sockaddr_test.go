package api

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pod state dir under a deep --state makes the monitor socket path longer than
// sun_path; listening and dialling must still work.
func TestSocketAddrLongPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), "pods", strings.Repeat("a", 64), "monitor")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sock")
	if len(path) <= maxSunPath {
		t.Fatalf("test path too short to matter: %d", len(path))
	}
	addr, release, err := SocketAddr(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", addr)
	release()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("socket not at its real path: %v", err)
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	addr, release, err = SocketAddr(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", addr)
	release()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if short, _, _ := SocketAddr("/run/crid/pods/x/monitor/sock"); short != "/run/crid/pods/x/monitor/sock" {
		t.Fatalf("short paths must stay as they are: %q", short)
	}
}
