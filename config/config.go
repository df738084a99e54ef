// Package config is crid's configuration: built-in defaults for every setting, a TOML file
// that may override any of them (unknown keys refused), and flags on top.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/pelletier/go-toml/v2"
)

// Version is crid's version, set at build time (-ldflags -X, from hack/version.sh: the
// tag, else the commit as a Go pseudo-version). It is a semantic version because kubelet
// parses the CRI runtime version as one; a build without the stamp says v0.0.0-dev.
var Version = "v0.0.0-dev"

// DefaultPath is where crid looks for its config file when --config is not given.
const DefaultPath = "/etc/crid/crid.toml"

// Duration is a time.Duration written as "90s" or "2m" in TOML.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads what time.ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes, written as an integer of bytes or as a string with a
// binary unit: "512MiB", "32GiB" (k, m, g, t and KB... mean the same powers of 1024).
type ByteSize int64

// MarshalText writes b with the largest binary unit that divides it, else in bytes.
func (b ByteSize) MarshalText() ([]byte, error) {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"TiB", units.TiB}, {"GiB", units.GiB}, {"MiB", units.MiB}, {"KiB", units.KiB}} {
		if b != 0 && int64(b)%u.size == 0 {
			return []byte(strconv.FormatInt(int64(b)/u.size, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(int64(b), 10)), nil
}

// UnmarshalText reads "512MiB", "32g" or a bare number of bytes.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := units.RAMInBytes(string(text))
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// Config is every setting crid has. The `comment` tags are printed by `crid config default`.
type Config struct {
	Root                   string                    `toml:"root" comment:"Persistent data: images, snapshots, container writable layers, metadata."`
	State                  string                    `toml:"state" comment:"Runtime state (tmpfs): per-pod dirs, monitor sockets, pinned namespaces."`
	Listen                 string                    `toml:"listen" comment:"CRI gRPC unix socket (path or unix://path)."`
	SocketGroup            string                    `toml:"socket_group" comment:"Group (name or gid) allowed to use the socket (0660); empty keeps the socket root-only (0600)."`
	LogLevel               string                    `toml:"log_level" comment:"debug, info, warn or error. Changed by SIGHUP without a restart."`
	MetricsListen          string                    `toml:"metrics_listen" comment:"Prometheus /metrics TCP address; empty disables it. Changed by SIGHUP without a restart."`
	CgroupDriver           string                    `toml:"cgroup_driver" comment:"cgroupfs or systemd; must match kubelet's --cgroup-driver.\ncgroupfs: crid makes and removes the cgroup directories itself (cgroup_parent is a path; default /crid).\nsystemd: pods and containers are transient systemd units made over D-Bus: a scope per container\n(Delegate=yes) in the pod's slice (cgroup_parent is a slice; without one, crid-pod<id>.slice under crid.slice).\nNeeds systemd as PID 1; without it the same paths are plain directories. On a systemd host each\npod's crid-monitor runs in its own scope (crid-monitor-<pod>.scope) with either driver,\nso restarting or stopping crid.service leaves pods running."`
	RegistryConfigDir      string                    `toml:"registry_config_dir" comment:"containerd-style certs.d dir: <dir>/<registry>/hosts.toml and <dir>/_default/hosts.toml.\nChanged by SIGHUP without a restart."`
	PauseImage             string                    `toml:"pause_image" comment:"Reported pinned and never garbage-collected; crid needs no pause container to run pods."`
	PinnedImages           []string                  `toml:"pinned_images" comment:"Images reported Pinned and never removed (RemoveImage is refused): exact references (\"busybox\" means\ndocker.io/library/busybox:latest) or globs over the full reference, like \"registry.k8s.io/pause:*\".\nChanged by SIGHUP without a restart."`
	PullProgressTimeout    Duration                  `toml:"pull_progress_timeout" comment:"A pull that receives no bytes for this long fails."`
	MaxConcurrentDownloads int                       `toml:"max_concurrent_downloads" comment:"Layers downloading at once per pull (a downloaded layer waiting for its sync and commit holds no slot)."`
	MaxLayerSize           ByteSize                  `toml:"max_layer_size" comment:"The most one image layer may hold: its compressed blob, its uncompressed tar stream and the sizes of\nits files (a sparse file counts at its full size). A pull of a bigger layer fails (ResourceExhausted)\nand leaves nothing behind. Bytes, or a binary unit (\"512MiB\", \"32GiB\"); 0 means no limit."`
	DiscardUnpackedLayers  bool                      `toml:"discard_unpacked_layers" comment:"Keep no compressed blob of a layer a pull or import unpacks: the stream is still verified (digest and size)\nbefore the snapshot is committed, but only the snapshot is written, not the blob too (about half the disk and writes\nof an incompressible layer).\nTurned on, it also frees the layer blobs already stored, at the next start (or image removal): an image\nwhose layers are unpacked no longer keeps them.\nSuch an image cannot be exported (crid save, crid image export) until pulled again with this off (crid tag\nworks: it needs no blob), and tools that read the content store (peer-to-peer image distribution) do not\nfind its layers."`
	CNIConfDir             string                    `toml:"cni_conf_dir" comment:"CNI network configs; the first .conflist/.conf by name is used and reloaded on change."`
	CNIBinDirs             []string                  `toml:"cni_bin_dirs" comment:"Where CNI plugins are looked up, in order."`
	CNIWriteDefaultConfig  bool                      `toml:"cni_write_default_config" comment:"Write crid's default network (bridge crid0, 10.89.0.0/16, file zz-crid-default.conflist) when cni_conf_dir has no\nother config and kubelet does not run in cluster mode. It sorts after any cluster CNI's file, and is\nignored (and removed) as soon as another config appears."`
	CNIDefaultInCluster    bool                      `toml:"cni_default_network_in_cluster" comment:"Also write the default network when kubelet runs in cluster mode (--kubeconfig, or /etc/kubernetes/kubelet.conf)."`
	StreamAddress          string                    `toml:"stream_address" comment:"Address of the exec/attach/port-forward streaming server."`
	StreamPort             int                       `toml:"stream_port" comment:"Port of the streaming server; 0 picks a free one."`
	MonitorPath            string                    `toml:"monitor_path" comment:"The crid-monitor binary; empty means next to the crid binary, then $PATH."`
	MonitorIdleSwitch      Duration                  `toml:"monitor_idle_switch" comment:"After this long with no request, exec, attach or exit in flight (and no container waiting in created),\na pod's crid-monitor hands the pod to its small C body in place (same pid; ~0.1 MiB instead of ~2.5 MiB);\nany request brings the Go body back at once. \"0s\" keeps every monitor in Go. Pods of external runtime handlers\nnever switch. Applies to pods started after a change."`
	MonitorSpares          int                       `toml:"monitor_spares" comment:"How many crid-monitor processes crid keeps started ahead, idle, for the next pods of the built-in executor:\nRunPodSandbox adopts one instead of waiting for a monitor's exec and Go runtime start. 0 starts each pod's monitor\nat RunPodSandbox. A spare exits when crid stops or dies."`
	ShutdownTimeout        Duration                  `toml:"shutdown_timeout" comment:"On SIGTERM, how long in-flight RPCs may take before crid exits anyway."`
	CDISpecDirs            []string                  `toml:"cdi_spec_dirs" comment:"Container Device Interface spec dirs (*.json, *.yaml), later dirs winning a conflict. A container's\nCDIDevices and cdi.k8s.io/* annotations name devices from them; an unknown device fails CreateContainer.\nRe-read at each CreateContainer that asks for a device."`
	HooksDirs              []string                  `toml:"hooks_dirs" comment:"OCI hooks.d dirs (schema 1.0.0 *.json files, as CRI-O and podman read them); a file name in a later dir masks\nthe same name in an earlier one. Re-read at each CreateContainer; a file that does not load fails it.\nThe built-in executor runs each stage where the OCI runtime spec says (a failing prestart,\ncreateRuntime or createContainer hook fails CreateContainer and leaves nothing)."`
	NRI                    NRI                       `toml:"nri" comment:"The Node Resource Interface (github.com/containerd/nri), off by default."`
	RuntimeHandlers        map[string]RuntimeHandler `toml:"runtime_handlers" comment:"RuntimeClass handlers ([runtime_handlers.NAME] tables, NAME a DNS label). The empty handler (kubelet's default)\nis always the built-in executor; \"crid\" names it too. A handler with runtime_path runs its pods' containers\nwith that OCI runtime (runc, crun...), driven by the pod's crid-monitor: logs, exec, attach, stats and\nrestarts work the same. The pod's namespaces and pause process are crid's in either case."`
}

// Default returns the built-in configuration crid runs with when no file exists.
func Default() Config {
	return Config{
		Root:                   "/var/lib/crid",
		State:                  "/run/crid",
		Listen:                 "/run/crid/crid.sock",
		LogLevel:               "info",
		MetricsListen:          "127.0.0.1:9325",
		CgroupDriver:           "cgroupfs",
		RegistryConfigDir:      "/etc/crid/certs.d",
		PauseImage:             "registry.k8s.io/pause:3.10",
		PullProgressTimeout:    Duration(time.Minute),
		MaxConcurrentDownloads: 3,
		MaxLayerSize:           32 << 30,
		CNIConfDir:             "/etc/cni/net.d",
		CNIBinDirs:             []string{"/opt/cni/bin", "/usr/lib/cni"},
		CNIWriteDefaultConfig:  true,
		StreamAddress:          "127.0.0.1",
		StreamPort:             0,
		MonitorIdleSwitch:      Duration(5 * time.Second),
		MonitorSpares:          1,
		ShutdownTimeout:        Duration(10 * time.Second),
		CDISpecDirs:            []string{"/etc/cdi", "/var/run/cdi"},
		NRI:                    defaultNRI(),
		HooksDirs:              []string{"/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"},
		RuntimeHandlers:        map[string]RuntimeHandler{BuiltinHandler: {DefaultAnnotations: map[string]string{}}},
	}
}

// Load reads one file over the defaults (no drop-ins). A missing file is fine only when
// missingOK; an unknown key or a bad value is an error naming the file and the key.
func Load(path string, missingOK bool) (Config, error) {
	cfg := Default()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && missingOK {
		return cfg, nil
	}
	if _, err := decodeFile(&cfg, path); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// checkDurationsQuoted refuses a duration written as a bare number: the TOML decoder stores
// an integer straight into Duration's int64, so `pull_progress_timeout = 60` would silently
// mean 60ns (every pull failing at once) rather than the minute the user meant. It returns
// the file's top-level table.
func checkDurationsQuoted(data []byte) (map[string]any, error) {
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type != reflect.TypeFor[Duration]() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if v, ok := raw[key]; ok {
			if _, isString := v.(string); !isString {
				return nil, fmt.Errorf("key %s: want a quoted duration with a unit, like \"90s\" or \"2m\", got %v", key, v)
			}
		}
	}
	return raw, nil
}

// maxMonitorSpares bounds monitor_spares: each spare is an idle process.
const maxMonitorSpares = 16

// Validate checks values that parse but make no sense; the error names the key.
func (c *Config) Validate() error {
	c.Listen = strings.TrimPrefix(c.Listen, "unix://")
	for key, dir := range map[string]string{"root": c.Root, "state": c.State, "listen": c.Listen} {
		if dir == "" || !filepath.IsAbs(dir) {
			return fmt.Errorf("config: %s must be an absolute path, got %q", key, dir)
		}
	}
	// Optional paths: relative ones would silently depend on the daemon's working dir.
	for key, p := range map[string]string{"registry_config_dir": c.RegistryConfigDir, "cni_conf_dir": c.CNIConfDir, "monitor_path": c.MonitorPath} {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("config: %s must be an absolute path, got %q", key, p)
		}
	}
	for key, dirs := range map[string][]string{"cni_bin_dirs": c.CNIBinDirs, "cdi_spec_dirs": c.CDISpecDirs, "hooks_dirs": c.HooksDirs} {
		for _, d := range dirs {
			if !filepath.IsAbs(d) {
				return fmt.Errorf("config: %s: %q is not an absolute path", key, d)
			}
		}
	}
	if err := c.NRI.validate(); err != nil {
		return err
	}
	if len(c.Listen) > 107 {
		return fmt.Errorf("config: listen: %q is longer than a unix socket path may be (107 bytes)", c.Listen)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		return fmt.Errorf("config: log_level: %w", err)
	}
	if c.CgroupDriver != "cgroupfs" && c.CgroupDriver != "systemd" {
		return fmt.Errorf("config: cgroup_driver must be cgroupfs or systemd, got %q", c.CgroupDriver)
	}
	if c.PullProgressTimeout <= 0 {
		return fmt.Errorf("config: pull_progress_timeout must be positive")
	}
	if c.MaxConcurrentDownloads < 1 {
		return fmt.Errorf("config: max_concurrent_downloads must be at least 1, got %d", c.MaxConcurrentDownloads)
	}
	if c.MaxLayerSize < 0 {
		return fmt.Errorf("config: max_layer_size must not be negative")
	}
	if c.StreamPort < 0 || c.StreamPort > 65535 {
		return fmt.Errorf("config: stream_port out of range: %d", c.StreamPort)
	}
	if len(c.CNIBinDirs) == 0 {
		return fmt.Errorf("config: cni_bin_dirs must name at least one dir")
	}
	for _, p := range c.PinnedImages {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("config: pinned_images: %q is not a reference or glob", p)
		}
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("config: shutdown_timeout must not be negative")
	}
	if c.MonitorIdleSwitch < 0 {
		return fmt.Errorf("config: monitor_idle_switch must not be negative")
	}
	if c.MonitorSpares < 0 || c.MonitorSpares > maxMonitorSpares {
		return fmt.Errorf("config: monitor_spares must be 0 to %d", maxMonitorSpares)
	}
	return c.validateHandlers()
}

// ParseLogLevel maps a log_level value to slog's level.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown level %q (debug, info, warn, error)", s)
	}
	return l, nil
}

// DefaultTOML is the whole default file, one comment per setting.
func DefaultTOML() string {
	b, err := toml.Marshal(Default())
	if err != nil {
		panic(err) // the defaults are a constant; failing here is a programming error
	}
	return "# crid configuration (" + DefaultPath + "). Every setting shown is the built-in default.\n" +
		"# Files in " + filepath.Join(filepath.Dir(DefaultPath), DropInDirName) + "/*.toml are read after this one in lexical order\n" +
		"# (a later file wins per key, tables merge); flags override them all. `crid config dump`\n" +
		"# prints the effective configuration and where each value came from. SIGHUP re-reads the\n" +
		"# files: the settings marked below change live, the others need a restart.\n\n" + string(b) + handlerExamples
}
