package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/cri"
)

// serve runs the daemon until SIGTERM/SIGINT; SIGHUP reloads the configuration with
// reload (see reload.go).
func serve(cfg config.Config, reload func() (config.Config, error)) error {
	level := new(slog.LevelVar)
	lvl, _ := config.ParseLogLevel(cfg.LogLevel)
	level.Set(lvl)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	// From the start: a SIGTERM during recovery (which can take a while with many pods)
	// then waits for it and shuts down cleanly, instead of killing the daemon half-way.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	// SIGHUP too (its default action would kill the daemon), on its own channel: HUPs
	// coalesce into one reload and can never crowd out a SIGTERM.
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)

	lock, err := lockRoot(cfg.Root)
	if err != nil {
		return err
	}
	defer lock.Close()
	stateLock, err := lockState(cfg.State)
	if err != nil {
		return err
	}
	defer stateLock.Close()

	d, err := newDaemon(cfg, log)
	if err != nil {
		return err
	}
	defer d.close()

	lis, err := listenCRI(cfg.Listen, cfg.SocketGroup)
	if err != nil {
		return err
	}
	g := grpc.NewServer(
		grpc.ChainUnaryInterceptor(cri.UnaryInterceptor(log)),
		grpc.ChainStreamInterceptor(cri.StreamInterceptor(log)),
		grpc.MaxRecvMsgSize(16<<20), grpc.MaxSendMsgSize(32<<20),
	)
	d.cri.Register(g)

	defer registerDaemonMetrics(d)()
	metrics := &metricsEndpoint{log: log}
	if err := metrics.set(cfg.MetricsListen); err != nil {
		lis.Close()
		return err
	}
	defer metrics.close()
	reloads := d.reloader(cfg, reload, level, metrics)
	admin, err := d.serveAdmin(filepath.Join(cfg.State, adminSocketName))
	if err != nil {
		lis.Close()
		return err
	}

	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	log.Info("crid serving CRI", "listen", cfg.Listen, "root", cfg.Root, "state", cfg.State, "version", config.Version)
	notifyReady(log)

	if err := waitForStop(sigs, hups, served, reloads, log); err != nil {
		return err
	}
	notifyStopping(log)
	// Stop accepting, let in-flight RPCs finish for a bounded time, then cut the rest.
	d.stopStreams()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Duration(cfg.ShutdownTimeout)):
		log.Warn("in-flight RPCs did not finish in time; stopping anyway", "timeout", time.Duration(cfg.ShutdownTimeout))
		g.Stop()
	}
	metrics.close()
	shutdownHTTP(admin)
	os.Remove(cfg.Listen)
	log.Info("crid stopped")
	return nil
}

// listenCRI opens the unix socket in a dir only root (or the configured group) can enter,
// never an abstract socket (CVE-2020-15257).
func listenCRI(path, group string) (net.Listener, error) {
	gid := -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			if g, err = user.LookupGroupId(group); err != nil {
				return nil, fmt.Errorf("socket_group %q: %w", group, err)
			}
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	dir := filepath.Dir(path)
	dirMode, sockMode := os.FileMode(0o700), os.FileMode(0o600)
	if gid >= 0 {
		dirMode, sockMode = 0o750, 0o660
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, 0, gid); err != nil {
			return nil, fmt.Errorf("socket dir: %w", err)
		}
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("socket %s is in use by another process", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("stale socket: %w", err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, sockMode); err != nil {
		lis.Close()
		return nil, err
	}
	if gid >= 0 {
		if err := os.Chown(path, 0, gid); err != nil {
			lis.Close()
			return nil, err
		}
	}
	return lis, nil
}
