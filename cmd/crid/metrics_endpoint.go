package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsEndpoint serves Prometheus /metrics on an address a reload may change.
type metricsEndpoint struct {
	log *slog.Logger

	mu   sync.Mutex
	addr string
	srv  *http.Server
}

// set serves on addr ("" stops serving). The new address is bound before the old one is
// let go, so a bad address leaves the running endpoint as it was.
func (m *metricsEndpoint) set(addr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr == m.addr && (m.srv != nil || addr == "") {
		return nil
	}
	var srv *http.Server
	if addr != "" {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics_listen %s: %w", addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(lis) }()
		m.log.Info("metrics", "listen", lis.Addr().String())
	}
	shutdownHTTP(m.srv)
	m.srv, m.addr = srv, addr
	return nil
}

func (m *metricsEndpoint) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	shutdownHTTP(m.srv)
	m.srv = nil
}

func shutdownHTTP(srv *http.Server) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
