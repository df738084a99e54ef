package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// wget is busybox's wget as the e2e specs run it, with -T working (Debian busybox 1.35's
// segfaults on it):
//
//	wget -q -O - -T 1 http://IP:PORT; wget -T 5 -qO- URL; wget -O- --post-data=X URL
//
// -T is busybox's: no network read (or connect) may wait longer. Redirects are followed;
// any failure exits 1 with busybox's message.
func wget(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	long := map[string]bool{
		"quiet": false, "spider": false, "no-check-certificate": false, "server-response": false,
		"output-document": true, "timeout": true, "post-data": true, "header": true, "user-agent": true,
	}
	opts, operands, err := getopt(args, "qsSO:T:U:Y:", long)
	if err != nil {
		fmt.Fprintf(stderr, "wget: %v\n", err)
		return 1
	}
	var (
		quiet, spider, insecure, showHeaders bool
		output, postData, agent              string
		hasPost                              bool
		timeout                              time.Duration
		headers                              []string
	)
	for _, o := range opts {
		switch o.name {
		case "q", "--quiet":
			quiet = true
		case "s", "--spider":
			spider = true
		case "S", "--server-response":
			showHeaders = true
		case "--no-check-certificate":
			insecure = true
		case "O", "--output-document":
			output = o.val
		case "T", "--timeout":
			if timeout, err = seconds(o.val); err != nil {
				fmt.Fprintf(stderr, "wget: timeout %q: %v\n", o.val, err)
				return 1
			}
		case "--post-data":
			postData, hasPost = o.val, true
		case "--header":
			headers = append(headers, o.val)
		case "U", "--user-agent":
			agent = o.val
		case "Y": // proxy on/off: no proxy is used either way
		}
	}
	if len(operands) != 1 {
		fmt.Fprintln(stderr, "wget: one URL, please (this stand-in fetches one)")
		return 1
	}
	url := operands[0]
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wget: "+format+"\n", a...)
		return 1
	}
	dialer := &net.Dialer{Timeout: timeout}
	client := httpClient(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil || timeout == 0 {
			return c, err
		}
		return &idleConn{Conn: c, idle: timeout}, nil
	}, insecure)
	method := http.MethodGet
	var body io.Reader
	if hasPost {
		method, body = http.MethodPost, strings.NewReader(postData)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, body) //nolint:gosec // G704: fetching the URL it is given is the tool's job
	if err != nil {
		return fail("bad address '%s': %v", url, err)
	}
	req.Header.Set("User-Agent", "Wget (crid e2etools)")
	if agent != "" {
		req.Header.Set("User-Agent", agent)
	}
	if hasPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	setHeaders(req.Header, headers)
	if !quiet {
		fmt.Fprintf(stderr, "Connecting to %s\n", req.URL.Host)
	}
	resp, err := client.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		return fail("%s", wgetError(err, req.URL.Host))
	}
	defer resp.Body.Close()
	if showHeaders {
		fmt.Fprintf(stderr, "  %s %s\n", resp.Proto, resp.Status)
		for k, vs := range resp.Header {
			for _, v := range vs {
				fmt.Fprintf(stderr, "  %s: %s\n", k, v)
			}
		}
	}
	if resp.StatusCode >= 400 {
		return fail("server returned error: %s %s", resp.Proto, resp.Status)
	}
	if spider {
		return 0
	}
	out := stdout
	if output != "-" {
		if output == "" {
			output = path.Base(req.URL.Path)
			if output == "/" || output == "." {
				output = "index.html"
			}
		}
		f, err := os.Create(output)
		if err != nil {
			return fail("can't open '%s': %v", output, err)
		}
		defer f.Close()
		out = f
		if !quiet {
			fmt.Fprintf(stderr, "saving to '%s'\n", output)
		}
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fail("%s", wgetError(err, req.URL.Host))
	}
	if !quiet && output != "-" {
		fmt.Fprintf(stderr, "'%s' saved\n", output)
	}
	return 0
}

func wgetError(err error, host string) string {
	var dnsErr *net.DNSError
	var ne net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("bad address '%s'", dnsErr.Name)
	case errors.As(err, &ne) && ne.Timeout():
		return "download timed out"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("can't connect to remote host (%s): %v", host, cause(err))
	}
	return err.Error()
}

// idleConn fails a read or write that waits longer than idle (busybox's -T).
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	_ = c.SetDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	_ = c.SetDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(b)
}
