package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// curl fetches one URL over HTTP(S) as the e2e specs run curl:
//
//	curl -g -q -s 'http://IP:8080/dial?request=hostname&protocol=udp&...'
//	curl -q -s --connect-timeout 5 HOST:PORT/hostname    (no scheme: http)
//	curl -g --connect-timeout 5 --interface HOSTIP http://127.0.0.1:PORT/hostname
//	curl -s -o /dev/null -w "%{http_code}" --max-time 5 http://HOST/healthz
//	curl -k https://localhost:10257/healthz; curl -i ...; curl -X POST -d DATA ...
//
// The body goes to stdout (-o: a file), headers too with -i (-I: HEAD, headers only);
// -w prints %{http_code} after it. Exit codes are curl's: 6 name not resolved, 7 no
// connection, 28 timed out, 22 an HTTP error with -f, 0 for any other response, 2 for an
// option this stand-in does not have.
func curl(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	long := map[string]bool{
		"silent": false, "show-error": false, "globoff": false, "include": false, "head": false,
		"insecure": false, "location": false, "fail": false, "verbose": false, "http1.1": false,
		"max-time": true, "connect-timeout": true, "interface": true, "output": true,
		"write-out": true, "request": true, "data": true, "data-raw": true, "data-binary": true,
		"header": true, "user-agent": true, "noproxy": true,
	}
	opts, operands, err := getopt(args, "gqsSiIkLfv46m:o:w:X:d:H:A:", long)
	if err != nil {
		fmt.Fprintf(stderr, "curl: %v\n", err)
		return 2
	}
	var (
		silent, showErr, include, head, insecure, follow, failHTTP, verbose bool
		maxTime, connectTimeout                                             time.Duration
		iface, output, writeOut, method, data, agent                        string
		hasData                                                             bool
		headers                                                             []string
	)
	for _, o := range opts {
		switch o.name {
		case "s", "--silent":
			silent = true
		case "S", "--show-error":
			showErr = true
		case "i", "--include":
			include = true
		case "I", "--head":
			head = true
		case "k", "--insecure":
			insecure = true
		case "L", "--location":
			follow = true
		case "f", "--fail":
			failHTTP = true
		case "v", "--verbose":
			verbose = true
		case "m", "--max-time", "--connect-timeout":
			d, err := seconds(o.val)
			if err != nil {
				fmt.Fprintf(stderr, "curl: %s %q: %v\n", o.name, o.val, err)
				return 2
			}
			if o.name == "--connect-timeout" {
				connectTimeout = d
			} else {
				maxTime = d
			}
		case "--interface":
			iface = o.val
		case "o", "--output":
			output = o.val
		case "w", "--write-out":
			writeOut = o.val
		case "X", "--request":
			method = o.val
		case "d", "--data", "--data-raw", "--data-binary":
			if hasData {
				data += "&"
			}
			data, hasData = data+o.val, true
		case "H", "--header":
			headers = append(headers, o.val)
		case "A", "--user-agent":
			agent = o.val
		}
	}
	if len(operands) != 1 {
		fmt.Fprintln(stderr, "curl: one URL, please (this stand-in fetches one)")
		return 2
	}
	url := operands[0]
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	failf := func(code int, format string, a ...any) int {
		if !silent || showErr {
			fmt.Fprintf(stderr, "curl: (%d) "+format+"\n", append([]any{code}, a...)...)
		}
		if writeOut != "" {
			fmt.Fprint(stdout, expandWriteOut(writeOut, 0))
		}
		return code
	}

	dialer := &net.Dialer{Timeout: connectTimeout}
	if iface != "" {
		ip, err := interfaceIP(iface)
		if err != nil {
			return failf(45, "bind to %s: %v", iface, err)
		}
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	client := httpClient(dialer.DialContext, insecure)
	client.Timeout = maxTime
	if !follow {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	switch {
	case method != "":
	case head:
		method = http.MethodHead
	case hasData:
		method = http.MethodPost
	default:
		method = http.MethodGet
	}
	var body io.Reader
	if hasData {
		body = strings.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, body) //nolint:gosec // G704: fetching the URL it is given is the tool's job
	if err != nil {
		return failf(3, "URL rejected: %v", err)
	}
	req.Header.Set("User-Agent", "curl/8 (crid e2etools)")
	if agent != "" {
		req.Header.Set("User-Agent", agent)
	}
	req.Header.Set("Accept", "*/*")
	if hasData {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	setHeaders(req.Header, headers)
	if verbose {
		fmt.Fprintf(stderr, "> %s %s\n", method, req.URL.RequestURI())
	}
	resp, err := client.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		code, msg := curlError(err, req.URL.Host)
		return failf(code, "%s", msg)
	}
	defer resp.Body.Close()
	if verbose {
		fmt.Fprintf(stderr, "< %s %s\n", resp.Proto, resp.Status)
	}
	if failHTTP && resp.StatusCode >= 400 {
		writeOutCode := resp.StatusCode
		if !silent || showErr {
			fmt.Fprintf(stderr, "curl: (22) The requested URL returned error: %d\n", resp.StatusCode)
		}
		if writeOut != "" {
			fmt.Fprint(stdout, expandWriteOut(writeOut, writeOutCode))
		}
		return 22
	}
	out := stdout
	if output != "" && output != "-" {
		f, err := os.Create(output)
		if err != nil {
			return failf(23, "write %s: %v", output, err)
		}
		defer f.Close()
		out = f
	}
	if include || head {
		fmt.Fprintf(out, "%s %s\r\n", resp.Proto, resp.Status)
		_ = resp.Header.Write(out)
		fmt.Fprint(out, "\r\n")
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		code, msg := curlError(err, req.URL.Host)
		if code == 7 {
			code, msg = 56, "Failure when receiving data from the peer: "+err.Error()
		}
		return failf(code, "%s", msg)
	}
	if writeOut != "" {
		fmt.Fprint(stdout, expandWriteOut(writeOut, resp.StatusCode))
	}
	return 0
}

// curlError maps a failed request to curl's exit code and message.
func curlError(err error, host string) (int, string) {
	var dnsErr *net.DNSError
	var ne net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return 6, "Could not resolve host: " + dnsErr.Name
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return 28, "Operation timed out: " + err.Error()
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return 7, fmt.Sprintf("Failed to connect to %s: %v", host, cause(err))
	}
	return 56, "Failure when receiving data from the peer: " + err.Error()
}

// expandWriteOut expands -w's %{http_code} (the only variable the specs read) and the
// escapes curl knows there.
func expandWriteOut(format string, code int) string {
	r := strings.NewReplacer("%{http_code}", fmt.Sprintf("%03d", code), "%{response_code}", fmt.Sprintf("%03d", code),
		`\n`, "\n", `\r`, "\r", `\t`, "\t", "%%", "%")
	return r.Replace(format)
}

// interfaceIP is --interface's argument as a source address: an IP, or an interface
// name's first address.
func interfaceIP(s string) (net.IP, error) {
	if ip := net.ParseIP(s); ip != nil {
		return ip, nil
	}
	ifc, err := net.InterfaceByName(s)
	if err != nil {
		return nil, err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			return n.IP, nil
		}
	}
	return nil, errors.New("no address on " + strconv.Quote(s))
}
