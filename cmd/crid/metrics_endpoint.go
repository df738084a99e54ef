package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crid-dev/crid/config"
)

// metricsEndpoint serves Prometheus /metrics on an address a reload may change.
type metricsEndpoint struct {
	log *slog.Logger

	mu    sync.Mutex
	addr  string
	bound string // the address really listened on (addr may say port 0)
	srv   *http.Server
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
	bound := ""
	if addr != "" {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics_listen %s: %w", addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(lis) }()
		bound = lis.Addr().String()
		m.log.Info("metrics", "listen", bound)
	}
	shutdownHTTP(m.srv)
	m.srv, m.addr, m.bound = srv, addr, bound
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

var buildInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "crid_build_info",
	Help: "Always 1; the labels say which crid build runs (version, Go version, CRI API).",
}, []string{"version", "go_version", "cri_api"})

// registerDaemonMetrics adds the daemon-wide gauges to the default registry for as long as
// this daemon serves; the returned func removes them.
func registerDaemonMetrics(d *daemon) func() {
	buildInfo.WithLabelValues(config.Version, runtime.Version(), "v1").Set(1)
	states := d.pods.StateCollector()
	if err := prometheus.Register(states); err != nil {
		d.log.Warn("pod and container state metrics not registered", "error", err)
		return func() {}
	}
	return func() { prometheus.Unregister(states) }
}
