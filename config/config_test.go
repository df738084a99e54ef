package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "crid.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultTOMLRoundTrips(t *testing.T) {
	cfg, err := Load(write(t, DefaultTOML()), false)
	if err != nil {
		t.Fatalf("default file does not load: %v", err)
	}
	if cfg.Root != Default().Root || cfg.PullProgressTimeout != Default().PullProgressTimeout {
		t.Fatalf("round trip changed values: %+v", cfg)
	}
	for _, key := range []string{"root", "state", "listen", "cni_bin_dirs", "metrics_listen", "log_level"} {
		if !strings.Contains(DefaultTOML(), "\n"+key+" = ") {
			t.Errorf("default file lacks %s", key)
		}
	}
	if strings.Count(DefaultTOML(), "\n# ") < 15 {
		t.Errorf("expected a comment per setting:\n%s", DefaultTOML())
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load("/nonexistent/crid.toml", true); err != nil {
		t.Fatalf("missing default file must be fine: %v", err)
	}
	if _, err := Load("/nonexistent/crid.toml", false); err == nil {
		t.Fatal("missing explicit file must fail")
	}
}

func TestOverrides(t *testing.T) {
	cfg, err := Load(write(t, "root = \"/tmp/r\"\npull_progress_timeout = \"90s\"\nlisten = \"unix:///tmp/s.sock\"\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/tmp/r" || time.Duration(cfg.PullProgressTimeout) != 90*time.Second || cfg.Listen != "/tmp/s.sock" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if cfg.State != "/run/crid" {
		t.Fatalf("unset key lost its default: %q", cfg.State)
	}
}

func TestMaxLayerSize(t *testing.T) {
	for body, want := range map[string]ByteSize{
		"":                              32 << 30,
		"max_layer_size = 4096\n":       4096,
		"max_layer_size = \"512MiB\"\n": 512 << 20,
		"max_layer_size = \"2g\"\n":     2 << 30,
		"max_layer_size = 0\n":          0,
	} {
		cfg, err := Load(write(t, body), false)
		if err != nil || cfg.MaxLayerSize != want {
			t.Errorf("%q: %d %v, want %d", body, cfg.MaxLayerSize, err, want)
		}
	}
	for v, want := range map[ByteSize]string{32 << 30: "32GiB", 1536 << 20: "1536MiB", 1000: "1000", 0: "0"} {
		if got, _ := v.MarshalText(); string(got) != want {
			t.Errorf("%d marshals as %q, want %q", v, got, want)
		}
	}
}

func TestDiscardUnpackedLayers(t *testing.T) {
	for body, want := range map[string]bool{
		"":                                  false,
		"discard_unpacked_layers = true\n":  true,
		"discard_unpacked_layers = false\n": false,
	} {
		cfg, err := Load(write(t, body), false)
		if err != nil || cfg.DiscardUnpackedLayers != want {
			t.Errorf("%q: %v %v, want %v", body, cfg.DiscardUnpackedLayers, err, want)
		}
	}
	if !strings.Contains(DefaultTOML(), "\ndiscard_unpacked_layers = false\n") {
		t.Error("crid config default lacks discard_unpacked_layers")
	}
}

func TestRefused(t *testing.T) {
	cases := map[string]string{
		"roots = \"/x\"\n":                     "roots",
		"log_level = \"loud\"\n":               "log_level",
		"pull_progress_timeout = \"soon\"\n":   "pull_progress_timeout",
		"max_concurrent_downloads = 0\n":       "max_concurrent_downloads",
		"root = \"relative\"\n":                "root",
		"cgroup_driver = \"x\"\n":              "cgroup_driver",
		"stream_port = \"x\"\n":                "stream_port",
		"pull_progress_timeout = 60\n":         "pull_progress_timeout",
		"shutdown_timeout = 10\n":              "shutdown_timeout",
		"monitor_idle_switch = 5\n":            "monitor_idle_switch",
		"monitor_idle_switch = \"-1s\"\n":      "monitor_idle_switch",
		"monitor_spares = -1\n":                "monitor_spares",
		"monitor_spares = 17\n":                "monitor_spares",
		"registry_config_dir = \"certs.d\"\n":  "registry_config_dir",
		"cni_conf_dir = \"net.d\"\n":           "cni_conf_dir",
		"cni_bin_dirs = [\"/opt\", \"bin\"]\n": "cni_bin_dirs",
		"monitor_path = \"crid-monitor\"\n":    "monitor_path",
		"max_layer_size = \"lots\"\n":          "max_layer_size",
		"max_layer_size = -1\n":                "max_layer_size",
		"max_layer_size = \"-1GiB\"\n":         "max_layer_size",
		"discard_unpacked_layers = \"yes\"\n":  "discard_unpacked_layers",
		"discard_unpacked_layers = 1\n":        "discard_unpacked_layers",
		"cdi_spec_dirs = [\"cdi\"]\n":          "cdi_spec_dirs",
		"cdi_spec_dirs = \"/etc/cdi\"\n":       "cdi_spec_dirs",
		"hooks_dirs = [\"hooks.d\"]\n":         "hooks_dirs",
		"[nri]\nsocket_path = \"nri.sock\"\n":  "nri.socket_path",
		"[nri]\nenabled = true\n":              "enabled",
	}
	for body, key := range cases {
		t.Run(strings.TrimSpace(body), func(t *testing.T) {
			_, err := Load(write(t, body), false)
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%q: want an error naming %s, got %v", body, key, err)
			}
		})
	}
}
