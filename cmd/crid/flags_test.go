package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func parse(t *testing.T, args ...string) (daemonFlags, *pflag.FlagSet) {
	t.Helper()
	var f daemonFlags
	fs := pflag.NewFlagSet("crid", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f, fs
}

func TestFlagsOverrideFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "crid.toml")
	if err := os.WriteFile(file, []byte("root = \"/from/file\"\nlog_level = \"debug\"\ncni_bin_dirs = [\"/a\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, fs := parse(t, "--config", file, "--root", "/from/flag", "--cni-bin-dir", "/x:/y", "--listen", "unix:///tmp/c.sock")
	cfg, err := f.load(fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/from/flag" || cfg.LogLevel != "debug" || cfg.Listen != "/tmp/c.sock" {
		t.Fatalf("flag/file precedence wrong: %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.CNIBinDirs, []string{"/x", "/y"}) {
		t.Fatalf("cni bin dirs: %v", cfg.CNIBinDirs)
	}
}

func TestStateFlagMovesDefaultSocket(t *testing.T) {
	f, fs := parse(t, "--config", "/nonexistent-default-is-not-used", "--state", "/tmp/s")
	fs.Lookup("config").Changed = false // behave as if the default path was used
	cfg, err := f.load(fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "/tmp/s/crid.sock" {
		t.Fatalf("listen = %q", cfg.Listen)
	}
}

func TestExplicitMissingConfigFails(t *testing.T) {
	f, fs := parse(t, "--config", "/nonexistent/crid.toml")
	if _, err := f.load(fs); err == nil {
		t.Fatal("an explicit missing config file must be refused")
	}
}

func TestBadFlagValueRefused(t *testing.T) {
	f, fs := parse(t, "--config", "/nonexistent", "--log-level", "loud")
	fs.Lookup("config").Changed = false
	if _, err := f.load(fs); err == nil {
		t.Fatal("bad log level accepted")
	}
}

func TestBadPauseImageRefusedNamingKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "crid.toml")
	if err := os.WriteFile(file, []byte("pause_image = \"Not A/Ref\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, fs := parse(t, "--config", file)
	if _, err := f.load(fs); err == nil || !strings.Contains(err.Error(), "pause_image") {
		t.Fatalf("want an error naming pause_image, got %v", err)
	}
}

func TestDropInsThenFlags(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "elsewhere.d")
	if err := os.MkdirAll(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "crid.toml"), []byte("log_level = \"debug\"\nroot = \"/from/file\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "10.toml"), []byte("log_level = \"warn\"\npinned_images = [\"busybox\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, fs := parse(t, "--config", filepath.Join(dir, "crid.toml"), "--config-dir", drop, "--root", "/from/flag")
	cfg, src, err := f.loadWithSources(fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogLevel != "warn" || src["log_level"] != filepath.Join(drop, "10.toml") || cfg.Root != "/from/flag" || src["root"] != "flag --root" {
		t.Fatalf("precedence wrong: %+v %v", cfg, src)
	}
	if err := os.WriteFile(filepath.Join(drop, "20.toml"), []byte("pinned_images = [\"Not A/Ref\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.loadWithSources(fs); err == nil || !strings.Contains(err.Error(), "20.toml") || !strings.Contains(err.Error(), "pinned_images") {
		t.Fatalf("want an error naming 20.toml and pinned_images, got %v", err)
	}
}
