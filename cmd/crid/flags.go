package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/images"
)

// daemonFlags are the command-line overrides; each has a TOML key of the same meaning.
type daemonFlags struct {
	configPath        string
	root, state       string
	listen            string
	registryConfigDir string
	cniConfDir        string
	cniBinDirs        string
	metricsListen     string
	logLevel          string
}

func (f *daemonFlags) register(fs *pflag.FlagSet) {
	d := config.Default()
	fs.StringVar(&f.configPath, "config", config.DefaultPath, "config file (TOML); missing is fine only at the default path")
	fs.StringVar(&f.root, "root", d.Root, "persistent data dir (root)")
	fs.StringVar(&f.state, "state", d.State, "runtime state dir (state)")
	fs.StringVar(&f.listen, "listen", d.Listen, "CRI socket, PATH or unix://PATH (listen)")
	fs.StringVar(&f.registryConfigDir, "registry-config-dir", d.RegistryConfigDir, "certs.d-style hosts.toml dir (registry_config_dir)")
	fs.StringVar(&f.cniConfDir, "cni-conf-dir", d.CNIConfDir, "CNI config dir (cni_conf_dir)")
	fs.StringVar(&f.cniBinDirs, "cni-bin-dir", strings.Join(d.CNIBinDirs, ":"), "CNI plugin dirs, colon-separated (cni_bin_dirs)")
	fs.StringVar(&f.metricsListen, "metrics-listen", d.MetricsListen, "Prometheus metrics address, empty disables (metrics_listen)")
	fs.StringVar(&f.logLevel, "log-level", d.LogLevel, "debug, info, warn or error (log_level)")
}

// load reads the config file and applies the flags the user set on top of it.
func (f *daemonFlags) load(fs *pflag.FlagSet) (config.Config, error) {
	cfg, err := config.Load(f.configPath, !fs.Changed("config"))
	if err != nil {
		return cfg, err
	}
	set := func(name string, dst *string, v string) {
		if fs.Changed(name) {
			*dst = v
		}
	}
	set("root", &cfg.Root, f.root)
	set("state", &cfg.State, f.state)
	set("listen", &cfg.Listen, f.listen)
	set("registry-config-dir", &cfg.RegistryConfigDir, f.registryConfigDir)
	set("cni-conf-dir", &cfg.CNIConfDir, f.cniConfDir)
	set("metrics-listen", &cfg.MetricsListen, f.metricsListen)
	set("log-level", &cfg.LogLevel, f.logLevel)
	if fs.Changed("cni-bin-dir") {
		cfg.CNIBinDirs = strings.FieldsFunc(f.cniBinDirs, func(r rune) bool { return r == ':' })
	}
	// A state dir given without a listen path moves the socket along with it.
	if fs.Changed("state") && !fs.Changed("listen") && cfg.Listen == config.Default().Listen {
		cfg.Listen = cfg.State + "/crid.sock"
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	// Checked here, not in package config, which does not link the image code.
	if cfg.PauseImage != "" {
		if _, err := images.NormalizeRef(cfg.PauseImage); err != nil {
			return cfg, fmt.Errorf("config: pause_image: %w", err)
		}
	}
	return cfg, nil
}
