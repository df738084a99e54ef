package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/crid-dev/crid/hack/testimages"
)

// serveBenchImage serves the bench image from an in-process registry and returns its
// reference at addr. The registry listens on a random loopback port; addr (default
// 127.0.0.1:5001, which the critest kit's hosts.d maps to plain HTTP for runtimes set up
// with it) proxies to it, so that both runtimes compared can pull without extra config.
// Building the image (200 MiB of seeded random data, gzip) takes a few seconds; it is the
// same bytes in every run.
func serveBenchImage(addr string) (ref string, stop func(), err error) {
	fmt.Fprintln(os.Stderr, "bench: building the 200 MiB pull image (hack/testimages Bench)")
	img, err := testimages.Bench()
	if err != nil {
		return "", nil, err
	}
	r, err := testimages.NewRegistry()
	if err != nil {
		return "", nil, err
	}
	if _, err := r.Push("crid-bench/large:1", img); err != nil {
		r.Close()
		return "", nil, err
	}
	if addr == "" {
		return r.Ref("crid-bench/large:1"), r.Close, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.Close()
		return "", nil, err
	}
	target, _ := url.Parse(r.URL)
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return addr + "/crid-bench/large:1", func() { srv.Close(); r.Close() }, nil
}
