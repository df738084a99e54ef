package main

import (
	"log/slog"
	"net/http"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/cri"
)

const adminSocketName = "crid-admin.sock"

// daemon holds the wired services of one crid process.
type daemon struct {
	cfg config.Config
	log *slog.Logger
	cri *cri.Server
}

func newDaemon(cfg config.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log}
	d.cri = cri.NewServer(cri.Deps{
		Log:          log,
		Version:      config.Version,
		CgroupDriver: cfg.CgroupDriver,
	})
	return d, nil
}

// stopStreams ends long-lived streams (events) so a graceful stop is not held up by them.
func (d *daemon) stopStreams() {}

func (d *daemon) close() {}

func (d *daemon) serveAdmin(path string) (*http.Server, error) { return nil, nil }
