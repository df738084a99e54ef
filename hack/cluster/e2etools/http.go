package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
)

// httpClient is curl's and wget's client: dial as given, no proxy, no compression, one
// connection per request; insecure skips the server's certificate check (curl -k, wget
// --no-check-certificate).
func httpClient(dial func(ctx context.Context, network, addr string) (net.Conn, error), insecure bool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:        dial,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // the caller's option asks for exactly this
		DisableCompression: true,
		DisableKeepAlives:  true,
	}}
}

// setHeaders sets each "Name: value" of headers (curl -H, wget --header) on h.
func setHeaders(h http.Header, headers []string) {
	for _, kv := range headers {
		if k, v, ok := strings.Cut(kv, ":"); ok {
			h.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
}
