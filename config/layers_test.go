package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// layerDir makes <dir>/crid.toml (when main != "") and <dir>/crid.d/<name> for each drop-in.
func layerDir(t *testing.T, main string, dropins map[string]string) Layers {
	t.Helper()
	dir := t.TempDir()
	l := Layers{Main: filepath.Join(dir, "crid.toml"), MainMayBe: true}
	if main != "" {
		if err := os.WriteFile(l.Main, []byte(main), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(l.DropIns(), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range dropins {
		if err := os.WriteFile(filepath.Join(l.DropIns(), name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestLayersLaterFileWinsPerKey(t *testing.T) {
	l := layerDir(t, "log_level = \"debug\"\nroot = \"/main\"\npinned_images = [\"a\", \"b\"]\n", map[string]string{
		"20-b.toml":     "log_level = \"warn\"\n",
		"10-a.toml":     "log_level = \"error\"\nstate = \"/from-a\"\n",
		"30-c.toml":     "pinned_images = [\"c\"]\n",
		"README":        "not toml, not read",
		".50-tmp.toml":  "bogus = 1\n", // an editor's temp file
		"40-notes.conf": "bogus = 1\n",
	})
	cfg, src, err := LoadLayers(l)
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(filepath.Dir(l.Main), "crid.d")
	if cfg.LogLevel != "warn" || src["log_level"] != filepath.Join(d, "20-b.toml") {
		t.Errorf("log_level = %q from %q: the last drop-in must win", cfg.LogLevel, src["log_level"])
	}
	if cfg.Root != "/main" || src["root"] != l.Main {
		t.Errorf("root = %q from %q", cfg.Root, src["root"])
	}
	if cfg.State != "/from-a" || src["state"] != filepath.Join(d, "10-a.toml") {
		t.Errorf("state = %q from %q", cfg.State, src["state"])
	}
	if !slices.Equal(cfg.PinnedImages, []string{"c"}) {
		t.Errorf("an array is replaced whole by a later file, got %v", cfg.PinnedImages)
	}
	if cfg.Listen != Default().Listen || src["listen"] != SourceDefault {
		t.Errorf("listen = %q from %q", cfg.Listen, src["listen"])
	}
	files, _ := l.Files()
	if want := []string{l.Main, filepath.Join(d, "10-a.toml"), filepath.Join(d, "20-b.toml"), filepath.Join(d, "30-c.toml")}; !slices.Equal(files, want) {
		t.Errorf("files %v, want %v", files, want)
	}
}

func TestLayersDropInsWithoutMainFile(t *testing.T) {
	l := layerDir(t, "", map[string]string{"a.toml": "log_level = \"debug\"\n"})
	cfg, _, err := LoadLayers(l)
	if err != nil || cfg.LogLevel != "debug" {
		t.Fatalf("drop-in without a main file: %q %v", cfg.LogLevel, err)
	}
	l.MainMayBe = false
	if _, _, err := LoadLayers(l); err == nil {
		t.Fatal("an explicit main file that is missing must fail")
	}
}

func TestLayersRefuseNamingFileAndKey(t *testing.T) {
	for body, key := range map[string]string{
		"log_levl = \"debug\"\n":         "log_levl",
		"log_level = \"loud\"\n":         "log_level",
		"pull_progress_timeout = 5\n":    "pull_progress_timeout",
		"pinned_images = [\"reg/[a\"]\n": "pinned_images",
		"root = 3\n":                     "root",
	} {
		l := layerDir(t, "log_level = \"debug\"\n", map[string]string{"10-ok.toml": "state = \"/s\"\n", "20-bad.toml": body})
		_, _, err := LoadLayers(l)
		if err == nil || !strings.Contains(err.Error(), "20-bad.toml") || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: want an error naming 20-bad.toml and %s, got %v", body, key, err)
		}
	}
}

func TestDumpNamesEverySource(t *testing.T) {
	l := layerDir(t, "log_level = \"debug\"\n", map[string]string{"10-a.toml": "pinned_images = [\"registry.k8s.io/pause:*\"]\n"})
	cfg, src, err := LoadLayers(l)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Dump(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"log_level = 'debug'  # " + l.Main + "\n",
		"pinned_images = ['registry.k8s.io/pause:*']  # " + filepath.Join(l.DropIns(), "10-a.toml") + "\n",
		"root = '/var/lib/crid'  # default\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(Keys()) {
		t.Errorf("dump has %d lines for %d keys:\n%s", n, len(Keys()), out)
	}
	// What dump prints loads back to the same configuration.
	back := filepath.Join(t.TempDir(), "dump.toml")
	if err := os.WriteFile(back, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := Load(back, false)
	if err != nil || !slices.Equal(again.PinnedImages, cfg.PinnedImages) || again.LogLevel != "debug" {
		t.Fatalf("dump does not load back: %v", err)
	}
}
