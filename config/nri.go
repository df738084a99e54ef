package config

import (
	"fmt"
	"path/filepath"
)

// NRI is the `[nri]` table: the Node Resource Interface (github.com/containerd/nri), which
// lets plugins see pod and container lifecycle events and adjust containers.
type NRI struct {
	Enable             bool   `toml:"enable" comment:"Run the NRI runtime adaptation: plugins see pod and container events, may adjust a container\nat creation (annotations, env, mounts, devices, resources, hooks...) and update or evict containers."`
	SocketPath         string `toml:"socket_path" comment:"Unix socket externally started plugins connect to."`
	PluginPath         string `toml:"plugin_path" comment:"Pre-registered plugins: executables named <two-digit index>-<name>, started by crid at start."`
	PluginConfigPath   string `toml:"plugin_config_path" comment:"Drop-in configuration of pre-registered plugins (<index>-<name>.conf or <name>.conf)."`
	DisableConnections bool   `toml:"disable_connections" comment:"Do not listen on socket_path: only pre-registered plugins run."`
}

func defaultNRI() NRI {
	return NRI{SocketPath: "/var/run/nri/nri.sock", PluginPath: "/opt/nri/plugins", PluginConfigPath: "/etc/nri/conf.d"}
}

func (n NRI) validate() error {
	for key, p := range map[string]string{"socket_path": n.SocketPath, "plugin_path": n.PluginPath, "plugin_config_path": n.PluginConfigPath} {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("config: nri.%s must be an absolute path, got %q", key, p)
		}
	}
	if len(n.SocketPath) > 107 {
		return fmt.Errorf("config: nri.socket_path: %q is longer than a unix socket path may be (107 bytes)", n.SocketPath)
	}
	return nil
}
