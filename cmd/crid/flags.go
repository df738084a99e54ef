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
	configDir         string
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
	fs.StringVar(&f.configDir, "config-dir", "", "drop-in dir whose *.toml are read after the config file, in lexical order (default: crid.d next to it)")
	fs.StringVar(&f.root, "root", d.Root, "persistent data dir (root)")
	fs.StringVar(&f.state, "state", d.State, "runtime state dir (state)")
	fs.StringVar(&f.listen, "listen", d.Listen, "CRI socket, PATH or unix://PATH (listen)")
	fs.StringVar(&f.registryConfigDir, "registry-config-dir", d.RegistryConfigDir, "certs.d-style hosts.toml dir (registry_config_dir)")
	fs.StringVar(&f.cniConfDir, "cni-conf-dir", d.CNIConfDir, "CNI config dir (cni_conf_dir)")
	fs.StringVar(&f.cniBinDirs, "cni-bin-dir", strings.Join(d.CNIBinDirs, ":"), "CNI plugin dirs, colon-separated (cni_bin_dirs)")
	fs.StringVar(&f.metricsListen, "metrics-listen", d.MetricsListen, "Prometheus metrics address, empty disables (metrics_listen)")
	fs.StringVar(&f.logLevel, "log-level", d.LogLevel, "debug, info, warn or error (log_level)")
}

// layers names the config files these flags select.
func (f *daemonFlags) layers(fs *pflag.FlagSet) config.Layers {
	return config.Layers{Main: f.configPath, MainMayBe: !fs.Changed("config"), DropInDir: f.configDir}
}

// load reads the config files and applies the flags the user set on top of them.
func (f *daemonFlags) load(fs *pflag.FlagSet) (config.Config, error) {
	cfg, _, err := f.loadWithSources(fs)
	return cfg, err
}

// loadWithSources is load that also says where each value came from.
func (f *daemonFlags) loadWithSources(fs *pflag.FlagSet) (config.Config, config.Sources, error) {
	cfg, src, err := config.LoadLayers(f.layers(fs))
	if err != nil {
		return cfg, src, err
	}
	set := func(name, key string, dst *string, v string) {
		if fs.Changed(name) {
			*dst = v
			src[key] = "flag --" + name
		}
	}
	set("root", "root", &cfg.Root, f.root)
	set("state", "state", &cfg.State, f.state)
	set("listen", "listen", &cfg.Listen, f.listen)
	set("registry-config-dir", "registry_config_dir", &cfg.RegistryConfigDir, f.registryConfigDir)
	set("cni-conf-dir", "cni_conf_dir", &cfg.CNIConfDir, f.cniConfDir)
	set("metrics-listen", "metrics_listen", &cfg.MetricsListen, f.metricsListen)
	set("log-level", "log_level", &cfg.LogLevel, f.logLevel)
	if fs.Changed("cni-bin-dir") {
		cfg.CNIBinDirs = strings.FieldsFunc(f.cniBinDirs, func(r rune) bool { return r == ':' })
		src["cni_bin_dirs"] = "flag --cni-bin-dir"
	}
	// A state dir given without a listen path moves the socket along with it.
	if fs.Changed("state") && !fs.Changed("listen") && cfg.Listen == config.Default().Listen {
		cfg.Listen = cfg.State + "/crid.sock"
		src["listen"] = "flag --state"
	}
	if err := cfg.Validate(); err != nil {
		return cfg, src, err
	}
	if err := checkImageRefs(cfg, src); err != nil {
		return cfg, src, err
	}
	return cfg, src, nil
}

// checkImageRefs checks the image references of cfg; here, not in package config, which
// does not link the image code. A glob is checked by package config (path.Match syntax).
func checkImageRefs(cfg config.Config, src config.Sources) error {
	if cfg.PauseImage != "" {
		if _, err := images.NormalizeRef(cfg.PauseImage); err != nil {
			return fmt.Errorf("config %s: pause_image: %w", src["pause_image"], err)
		}
	}
	for _, p := range cfg.PinnedImages {
		if images.IsPinGlob(p) {
			continue
		}
		if _, err := images.NormalizeRef(p); err != nil {
			return fmt.Errorf("config %s: pinned_images: %w", src["pinned_images"], err)
		}
	}
	return nil
}
