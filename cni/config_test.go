package cni

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// fakePlugins makes a bin dir holding executables of the given types that
// answer VERSION (CNI 0.1.0 to 1.0.0, like Debian's) and nothing else:
// enough for config validation.
func fakePlugins(t testing.TB, types ...string) string {
	t.Helper()
	return fakePluginsAnswering(t, fakePlugin, types...)
}

func fakePluginsAnswering(t testing.TB, script string, types ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, typ := range types {
		if err := os.WriteFile(filepath.Join(dir, typ), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const fakePlugin = `#!/bin/sh
[ "$CNI_COMMAND" = VERSION ] || exit 1
echo '{"cniVersion": "1.0.0", "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]}'
`

// fakeOldPlugin answers VERSION as Debian 11's plugins (0.9.1) do: nothing past 0.4.0.
const fakeOldPlugin = `#!/bin/sh
[ "$CNI_COMMAND" = VERSION ] || exit 1
echo '{"cniVersion": "0.4.0", "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"]}'
`

// fakeNewPlugin answers VERSION as today's plugins (1.5+) do.
const fakeNewPlugin = `#!/bin/sh
[ "$CNI_COMMAND" = VERSION ] || exit 1
echo '{"cniVersion": "1.1.0", "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}'
`

// The default network must load with every plugin release crid supports, from
// Debian 11's 0.9 (which refuses cniVersion 1.0.0) to today's 1.x.
func TestDefaultConfigOldAndNewPlugins(t *testing.T) {
	for name, script := range map[string]string{"0.9 (Debian 11)": fakeOldPlugin, "1.1 (Debian 12)": fakePlugin, "1.5+": fakeNewPlugin} {
		t.Run(name, func(t *testing.T) {
			bins := fakePluginsAnswering(t, script, "bridge", "host-local", "portmap", "loopback")
			conf := filepath.Join(t.TempDir(), "net.d")
			m := newTestManager(t, Config{ConfDir: conf, BinDirs: []string{bins}, WriteDefaultConfig: true, ClusterMode: func() bool { return false }})
			if err := m.Ready(); err != nil {
				t.Fatalf("default config with plugins %s: Ready() = %v", name, err)
			}
		})
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newTestManager makes a Manager for cfg. Unless the test says otherwise kubelet does not
// run in cluster mode: a kubelet of the host (another tool's node on a shared machine)
// must not decide whether crid's default network is used.
func newTestManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	if cfg.ClusterMode == nil {
		cfg.ClusterMode = func() bool { return false }
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestReadyAndReload(t *testing.T) {
	conf := t.TempDir()
	m := newTestManager(t, Config{ConfDir: conf, BinDirs: []string{fakePlugins(t, "bridge", "host-local", "portmap")}})

	err := m.Ready()
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "no network config found in "+conf) {
		t.Fatalf("empty dir: Ready() = %v", err)
	}
	// Files that are not configs, temp files and broken configs do not count.
	writeFile(t, filepath.Join(conf, "README"), "hi")
	writeFile(t, filepath.Join(conf, ".10-x.conflist.tmp"), "{")
	writeFile(t, filepath.Join(conf, "05-broken.conflist"), `{"name": "x", "plugins": [`)
	err = m.Ready()
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "05-broken.conflist") {
		t.Fatalf("broken config: Ready() = %v", err)
	}

	writeFile(t, filepath.Join(conf, "20-net.conflist"),
		`{"cniVersion": "1.0.0", "name": "net20", "plugins": [{"type": "bridge"}, {"type": "portmap"}]}`)
	if err := m.Ready(); err != nil {
		t.Fatalf("after a config appeared: Ready() = %v", err)
	}
	if list, _ := m.current(); list.Name != "net20" || len(list.Plugins) != 2 {
		t.Fatalf("loaded %+v", list)
	}

	// The first file by name wins; a single-plugin .conf is accepted.
	writeFile(t, filepath.Join(conf, "10-single.conf"), `{"cniVersion": "0.3.1", "name": "single", "type": "bridge"}`)
	if list, err := m.current(); err != nil || list.Name != "single" || list.Plugins[0].Network.Type != "bridge" {
		t.Fatalf("after 10-single.conf: %+v, %v", list, err)
	}

	// An edit in place is seen (size changes).
	writeFile(t, filepath.Join(conf, "10-single.conf"), `{"cniVersion": "0.3.1", "name": "single2", "type": "bridge"}`)
	if list, err := m.current(); err != nil || list.Name != "single2" {
		t.Fatalf("after edit: %+v, %v", list, err)
	}

	// A plugin that is not installed makes the node not ready, saying which.
	writeFile(t, filepath.Join(conf, "01-missing.conflist"),
		`{"cniVersion": "1.0.0", "name": "m", "plugins": [{"type": "bridge"}, {"type": "no-such-plugin"}]}`)
	err = m.Ready()
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), `"no-such-plugin"`) {
		t.Fatalf("missing plugin: Ready() = %v", err)
	}
	// So does a spec version the plugins do not speak.
	writeFile(t, filepath.Join(conf, "01-missing.conflist"),
		`{"cniVersion": "1.1.0", "name": "m", "plugins": [{"type": "bridge"}]}`)
	err = m.Ready()
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), `does not support config version "1.1.0"`) {
		t.Fatalf("unsupported version: Ready() = %v", err)
	}

	// Installing the plugin later is noticed.
	revalidateInterval = 0
	t.Cleanup(func() { revalidateInterval = 2 * time.Second })
	writeFile(t, filepath.Join(conf, "01-missing.conflist"),
		`{"cniVersion": "1.0.0", "name": "m", "plugins": [{"type": "late-plugin"}]}`)
	if err := m.Ready(); err == nil {
		t.Fatal("Ready() = nil before late-plugin is installed")
	}
	writeFile(t, filepath.Join(m.cfg.BinDirs[0], "late-plugin"), fakePlugin)
	if err := os.Chmod(filepath.Join(m.cfg.BinDirs[0], "late-plugin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(); err != nil {
		t.Fatalf("after installing late-plugin: Ready() = %v", err)
	}

	// Removing every config makes it not ready again.
	for _, f := range []string{"01-missing.conflist", "10-single.conf", "20-net.conflist", "05-broken.conflist"} {
		os.Remove(filepath.Join(conf, f))
	}
	if err := m.Ready(); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("after removal: Ready() = %v", err)
	}
}

func TestNewRejectsRelativePaths(t *testing.T) {
	if _, err := New(Config{ConfDir: "net.d"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("relative ConfDir: %v", err)
	}
	if _, err := New(Config{ConfDir: t.TempDir(), BinDirs: []string{"bin"}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("relative bin dir: %v", err)
	}
}

func TestReadyMissingDir(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "net.d")
	m := newTestManager(t, Config{ConfDir: conf, BinDirs: []string{fakePlugins(t, "bridge")}})
	if err := m.Ready(); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("missing dir: Ready() = %v", err)
	}
	// The dir appearing later is noticed, which an inotify watch on it could not do.
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(conf, "10.conflist"), `{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge"}]}`)
	if err := m.Ready(); err != nil {
		t.Fatalf("after dir and config appeared: Ready() = %v", err)
	}
}

func TestDefaultConfig(t *testing.T) {
	bins := fakePlugins(t, "bridge", "host-local", "portmap", "bandwidth", "loopback")

	// Not allowed: nothing is written, not even the dir.
	conf := filepath.Join(t.TempDir(), "net.d")
	m := newTestManager(t, Config{ConfDir: conf, BinDirs: []string{bins}})
	if err := m.Ready(); err == nil {
		t.Fatal("Ready() = nil without config")
	}
	if _, err := os.Stat(conf); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("conf dir created though WriteDefaultConfig is off: %v", err)
	}

	// Allowed and empty (the dir missing): written, and usable.
	m = newTestManager(t, Config{ConfDir: conf, BinDirs: []string{bins}, WriteDefaultConfig: true, ClusterMode: func() bool { return false }})
	if err := m.Ready(); err != nil {
		t.Fatalf("with default config: Ready() = %v", err)
	}
	b, err := os.ReadFile(filepath.Join(conf, DefaultConfigFile))
	if err != nil || string(b) != DefaultConfig {
		t.Fatalf("default config file: %q, %v", b, err)
	}
	var parsed struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				Ranges [][]struct {
					Subnet     string `json:"subnet"`
					RangeStart string `json:"rangeStart"`
				} `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil {
		t.Fatal(err)
	}
	// Its own bridge and subnet: never a cluster CNI's (cni0) nor the conformance kit's.
	if r := parsed.Plugins[0].IPAM.Ranges[0][0]; parsed.Name != "crid" || parsed.Plugins[0].Bridge != "crid0" ||
		parsed.Plugins[0].IPMasq || r.Subnet != "10.89.0.0/16" {
		t.Errorf("default config: %+v", parsed)
	}
	if list, _ := m.current(); list.Name != "crid" {
		t.Errorf("loaded %q", list.Name)
	}

	// Allowed but the dir has a config: left alone.
	conf2 := t.TempDir()
	writeFile(t, filepath.Join(conf2, "99-mine.conf"), `{"cniVersion": "1.0.0", "name": "mine", "type": "bridge"}`)
	m = newTestManager(t, Config{ConfDir: conf2, BinDirs: []string{bins}, WriteDefaultConfig: true})
	if _, err := os.Stat(filepath.Join(conf2, DefaultConfigFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("default written next to an existing config: %v", err)
	}
	if list, err := m.current(); err != nil || list.Name != "mine" {
		t.Fatalf("loaded %+v, %v", list, err)
	}
}
