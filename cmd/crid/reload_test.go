package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crid-dev/crid/config"
)

// TestReloadAppliesLiveKeysRefusesBadFiles: a reload changes what may change live, reports
// the rest as needing a restart (keeping the running value), refuses a bad file whole and
// keeps the running config, and keeps an old value whose new one cannot be applied.
func TestReloadAppliesLiveKeysRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "crid.toml")
	dropins := filepath.Join(dir, "crid.d")
	if err := os.MkdirAll(dropins, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(p, body string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(main, "log_level = \"info\"\nroot = \"/r1\"\n")
	f, fs := parse(t, "--config", main, "--metrics-listen", "127.0.0.1:1")
	load := func() (config.Config, error) { return f.load(fs) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	applied := map[string]string{}
	r := &reloader{log: slog.New(slog.NewTextHandler(&logs, nil)), load: load, cur: cfg, apply: map[string]liveApplier{
		"log_level":     func(c config.Config) error { applied["log_level"] = c.LogLevel; return nil },
		"pinned_images": func(c config.Config) error { applied["pinned_images"] = strings.Join(c.PinnedImages, ","); return nil },
		"registry_config_dir": func(c config.Config) error {
			if strings.Contains(c.RegistryConfigDir, "unusable") {
				return errors.New("cannot use it")
			}
			applied["registry_config_dir"] = c.RegistryConfigDir
			return nil
		},
		"metrics_listen": func(c config.Config) error {
			t.Error("metrics_listen is set by a flag: a file must not change it")
			return nil
		},
	}}

	write(main, "log_level = \"debug\"\nroot = \"/r2\"\nmetrics_listen = \"127.0.0.1:2\"\n")
	write(filepath.Join(dropins, "10-pins.toml"), "pinned_images = [\"registry.k8s.io/pause:*\"]\n")
	changed, restart := r.reload()
	if !slices.Equal(changed, []string{"log_level", "pinned_images"}) || !slices.Equal(restart, []string{"root"}) {
		t.Fatalf("changed %v, needs restart %v", changed, restart)
	}
	if got := r.running(); got.LogLevel != "debug" || got.Root != "/r1" || applied["pinned_images"] != "registry.k8s.io/pause:*" {
		t.Fatalf("running config after reload: %+v, applied %v", got, applied)
	}
	if !strings.Contains(logs.String(), "needs a restart") || !strings.Contains(logs.String(), "key=root") {
		t.Errorf("no needs-a-restart line for root:\n%s", logs.String())
	}

	// A bad drop-in: refused whole, nothing changes, the file and key are named.
	write(filepath.Join(dropins, "20-bad.toml"), "log_level = \"warn\"\nlog_levl = \"x\"\n")
	before := r.running()
	if changed, restart := r.reload(); changed != nil || restart != nil {
		t.Fatalf("a bad file changed %v / %v", changed, restart)
	}
	if got := r.running(); got.LogLevel != before.LogLevel || applied["log_level"] != "debug" {
		t.Fatalf("bad file applied: %+v", got)
	}
	if !strings.Contains(logs.String(), "reload refused") || !strings.Contains(logs.String(), "20-bad.toml") || !strings.Contains(logs.String(), "log_levl") {
		t.Errorf("refusal does not name the file and key:\n%s", logs.String())
	}
	os.Remove(filepath.Join(dropins, "20-bad.toml"))

	// A value that cannot be applied keeps the running one; the others still apply.
	write(filepath.Join(dropins, "30.toml"), "registry_config_dir = \"/unusable\"\nlog_level = \"error\"\n")
	changed, _ = r.reload()
	if !slices.Equal(changed, []string{"log_level"}) || r.running().RegistryConfigDir != cfg.RegistryConfigDir {
		t.Fatalf("changed %v, registry_config_dir %q", changed, r.running().RegistryConfigDir)
	}
}
