package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/cni"
	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/cri"
	"github.com/crid-dev/crid/images"
	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/wire"
)

const adminSocketName = "crid-admin.sock"

// daemon holds the wired services of one crid process.
type daemon struct {
	cfg     config.Config
	log     *slog.Logger
	images  *images.Service
	network *cni.Manager
	pods    *sandbox.Manager
	stream  *cri.StreamServer
	cri     *cri.Server
	closers []func()
	// running returns the configuration in force (a reload changes the live keys).
	running  func() config.Config
	kernel   kernel.Features // the start-time probe
	appArmor *appArmorState
}

// imagesConfig places the image store and the writable layers under the root.
func imagesConfig(cfg config.Config) images.Config {
	return images.Config{
		Root:                   filepath.Join(cfg.Root, "images"),
		ContainersDir:          filepath.Join(cfg.Root, "containers"),
		RegistryConfigDir:      cfg.RegistryConfigDir,
		PauseImage:             cfg.PauseImage,
		PinnedImages:           cfg.PinnedImages,
		PullProgressTimeout:    time.Duration(cfg.PullProgressTimeout),
		MaxConcurrentDownloads: cfg.MaxConcurrentDownloads,
		MaxLayerSize:           int64(cfg.MaxLayerSize),
		DiscardUnpackedLayers:  cfg.DiscardUnpackedLayers,
	}
}

func newDaemon(cfg config.Config, log *slog.Logger) (_ *daemon, err error) {
	// Not the named result: every `return nil, err` would set that to nil before this
	// deferred close runs, which then panicked instead of closing what was opened.
	d := &daemon{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	monitorPath, err := findMonitor(cfg.MonitorPath)
	if err != nil {
		return nil, err
	}
	if d.images, err = images.Open(imagesConfig(cfg)); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	d.closers = append(d.closers, func() { d.images.Close() })
	d.network, err = cni.New(cni.Config{
		ConfDir:            cfg.CNIConfDir,
		BinDirs:            cfg.CNIBinDirs,
		WriteDefaultConfig: cfg.CNIWriteDefaultConfig,
		DefaultInCluster:   cfg.CNIDefaultInCluster,
		NetNSDir:           filepath.Join(cfg.State, "netns"),
		CacheDir:           filepath.Join(cfg.Root, "cni"),
	})
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	d.closers = append(d.closers, func() { d.network.Close() })

	// Recovery reconnects to every pod's monitor and reconciles half-made work, so it
	// must finish before the socket accepts requests.
	// On the filesystem of the layers: whether it takes idmapped mounts matters.
	kern, probed := probeKernel(monitorPath, cfg.Root, log)
	d.kernel = kern
	d.appArmor = setupAppArmor(context.Background(), log)
	features := runtimeFeatures(kern)
	handlers, runtimes := runtimeHandlers(cfg, features, log)
	monOpts := wire.MonitorOptions{Binary: monitorPath, LogLevel: cfg.LogLevel, Cgroups: cgroups.HostTree(), Kernel: probed, Runtimes: runtimes, Idle: time.Duration(cfg.MonitorIdleSwitch)}
	if cfg.MonitorSpares > 0 {
		// Started now, beside recovery: the first pod finds one ready.
		monOpts.Spares = wire.NewSpares(monOpts, cfg.MonitorSpares, log)
		d.closers = append(d.closers, monOpts.Spares.Close)
	}
	deps := wire.Deps(d.images, d.network, monOpts)
	cdi := wire.NewCDI(cfg.CDISpecDirs)
	deps.Devices = cdi
	var nri *wire.NRI
	if cfg.NRI.Enable {
		if nri, err = wire.NewNRI(cfg.NRI, cdi, log); err != nil {
			return nil, err
		}
		deps.NRI = nri
	}
	deps.Hooks = wire.Hooks{Dirs: cfg.HooksDirs}
	d.pods, err = sandbox.New(context.Background(), sandbox.Config{
		Root:     cfg.Root,
		State:    cfg.State,
		Handlers: handlers,
		Features: features,
		SpecHost: specHost(cfg.CgroupDriver, d.appArmor),
	}, deps, log)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { d.pods.Close() })
	if nri != nil {
		// After the pods are loaded: registering plugins are synchronised with them.
		if err := nri.Start(d.pods); err != nil {
			return nil, err
		}
		d.closers = append(d.closers, nri.Stop)
	}

	if d.stream, err = cri.NewStreamServer(cfg.StreamAddress, cfg.StreamPort, d.pods); err != nil {
		return nil, err
	}
	go func() {
		if err := d.stream.Start(); err != nil {
			log.Error("streaming server stopped", "error", err)
		}
	}()
	d.closers = append(d.closers, func() { _ = d.stream.Stop() })

	d.cri = cri.NewServer(cri.Deps{
		Log:          log,
		Version:      config.Version,
		CgroupDriver: cfg.CgroupDriver,
		Runtime:      runtimeReadiness{monitor: monitorPath, kernel: probed},
		Network:      d.network,
		StatusExtras: cri.HandlerStatus(d.pods),
		Info:         d.statusInfo,
		Images:       d.images,
		Sandbox:      d.pods,
		Streaming:    d.stream,
	})
	return d, nil
}

// stopStreams ends long-lived streams (events, exec sessions) so a graceful stop is not
// held up by them.
func (d *daemon) stopStreams() {
	if d.cri != nil {
		d.cri.Shutdown()
	}
	if d.stream != nil {
		_ = d.stream.Stop()
	}
}

// close releases services in reverse order of their start.
func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}
