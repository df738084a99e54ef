package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, tl tool, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = tl(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func TestGetopt(t *testing.T) {
	opts, operands, err := getopt([]string{"-vz", "host", "80", "-w", "5", "-qO-", "--max-time=3", "--data", "a=b"}, "vzqw:O:", map[string]bool{"max-time": true, "data": true})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(opts, operands)
	want := "[{v } {z } {w 5} {q } {O -} {--max-time 3} {--data a=b}] [host 80]"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for _, bad := range [][]string{{"-x"}, {"-w"}, {"--nope"}} {
		if _, _, err := getopt(bad, "vw:", nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// tcpServer answers each connection with reply after reading one line, then closes (or,
// with hold, keeps it open); it records what it read.
func tcpServer(t *testing.T, reply string, hold bool) (addr string, got chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 100)
			n, _ := c.Read(buf)
			got <- string(buf[:n])
			_, _ = c.Write([]byte(reply))
			if hold {
				t.Cleanup(func() { c.Close() })
				continue
			}
			c.Close()
		}
	}()
	return ln.Addr().String(), got
}

func TestNcTCP(t *testing.T) {
	addr, got := tcpServer(t, "pod-1", false)
	host, port, _ := net.SplitHostPort(addr)
	code, out, errOut := run(t, nc, "hostName\n", "-v", "-t", "-w", "2", host, port)
	if code != 0 || out != "pod-1" || !strings.Contains(errOut, "succeeded") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if s := <-got; s != "hostName\n" {
		t.Fatalf("server read %q", s)
	}
	// A server that keeps the connection open: -w ends it once idle.
	addr, _ = tcpServer(t, "still here", true)
	host, port, _ = net.SplitHostPort(addr)
	if code, out, _ := run(t, nc, "x\n", "-w", "0.2", host, port); code != 0 || out != "still here" {
		t.Fatalf("idle: exit %d, stdout %q", code, out)
	}
	// -z: connect only.
	if code, out, _ := run(t, nc, "", "-vz", host, port, "-w", "1"); code != 0 || out != "" {
		t.Fatalf("-z: exit %d, stdout %q", code, out)
	}
}

func TestNcRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	code, out, errOut := run(t, nc, "hostName\n", "-v", "-w", "2", host, port)
	if code != 1 || out != "" || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestNcUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte("reply to "+string(buf[:n])), from)
		}
	}()
	host, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	code, out, _ := run(t, nc, "hostName\n", "-w", "0.5", "-u", host, port)
	if code != 0 || out != "reply to hostName\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}

func TestNcListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	done := make(chan string)
	go func() {
		_, out, errOut := run(t, nc, "", "-lU", path)
		done <- out + errOut
	}()
	var c net.Conn
	for {
		var err error
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		select {
		case out := <-done:
			t.Fatalf("nc -lU ended: %s", out)
		default:
		}
	}
	_, _ = c.Write([]byte("over the socket"))
	c.Close()
	if out := <-done; out != "over the socket" {
		t.Fatalf("nc -lU printed %q", out)
	}
}

func TestCurl(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hostname":
			fmt.Fprint(w, "pod-1")
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b) //nolint:gosec // G705: a test server echoing to the test
		case "/hang":
			<-block
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(block) // before Close, which waits for the handlers
	host := strings.TrimPrefix(srv.URL, "http://")
	cases := []struct {
		args     []string
		code     int
		stdout   string
		contains bool
	}{
		{[]string{"-q", "-s", "--connect-timeout", "5", host + "/hostname"}, 0, "pod-1", false},
		{[]string{"-g", "-q", "-s", srv.URL + "/hostname"}, 0, "pod-1", false},
		{[]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", srv.URL + "/nope"}, 0, "404", false},
		{[]string{"-sf", srv.URL + "/nope"}, 22, "", false},
		{[]string{"-s", "-X", "POST", "-d", "a=b", srv.URL + "/echo"}, 0, "POST a=b", false},
		{[]string{"-i", "-s", srv.URL + "/hostname"}, 0, "HTTP/1.1 200 OK\r\n", true},
		{[]string{"-s", "--max-time", "0.2", srv.URL + "/hang"}, 28, "", false},
		{[]string{"-s", "--interface", "127.0.0.1", srv.URL + "/hostname"}, 0, "pod-1", false},
		{[]string{"--no-such-option", srv.URL}, 2, "", false},
	}
	for _, c := range cases {
		code, out, errOut := run(t, curl, "", c.args...)
		if code != c.code || (c.contains && !strings.Contains(out, c.stdout)) || (!c.contains && out != c.stdout) {
			t.Errorf("curl %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q", c.args, code, out, errOut, c.code, c.stdout)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if code, _, errOut := run(t, curl, "", "http://"+ln.Addr().String()+"/"); code != 7 || !strings.Contains(errOut, "Failed to connect") {
		t.Errorf("closed port: exit %d, stderr %q; want 7", code, errOut)
	}
}

func TestWget(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-block
		case "/write":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b) //nolint:gosec // G705: a test server echoing to the test
		case "/":
			fmt.Fprint(w, "pod-1")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(block) // before Close, which waits for the handlers
	cases := []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{"-q", "-O", "-", "-T", "1", srv.URL}, 0, "pod-1"},
		{[]string{"-T", "5", "-qO-", srv.URL + "/"}, 0, "pod-1"},
		{[]string{"-O-", "-q", "--post-data=x=1", srv.URL + "/write"}, 0, "POST x=1"},
		{[]string{"-qO-", srv.URL + "/nope"}, 1, ""},
		// -T bounds a read that waits: the body never comes.
		{[]string{"-qO-", "-T", "0.2", srv.URL + "/hang"}, 1, ""},
	}
	for _, c := range cases {
		code, out, errOut := run(t, wget, "", c.args...)
		if code != c.code || out != c.stdout {
			t.Errorf("wget %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q", c.args, code, out, errOut, c.code, c.stdout)
		}
	}
	// Without -O: the file named after the path, in the working directory.
	dir := t.TempDir()
	t.Chdir(dir)
	if code, _, errOut := run(t, wget, "", "-q", srv.URL+"/write"); code != 0 {
		t.Fatalf("wget to a file: exit %d: %s", code, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "write")); err != nil || string(b) != "GET " {
		t.Fatalf("saved %q, %v", b, err)
	}
}

func TestNnp(t *testing.T) {
	code, out, errOut := run(t, nnp, "")
	if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("Effective uid: %d\nNoNewPrivs: ", os.Geteuid())) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
