package e2e

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallUninstall: hack/install.sh (make install/uninstall) with DESTDIR and PREFIX puts
// both binaries, the unit (ExecStart under PREFIX) and a default config that loads; a second
// install keeps an edited config; uninstall removes what install put there, never the config.
func TestInstallUninstall(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	run := func(action string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(root, "hack/install.sh"), action)
		cmd.Env = append(os.Environ(), "DESTDIR="+dest, "PREFIX=/opt/crid", "BIN="+binDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh %s: %v\n%s", action, err, out)
		}
		return string(out)
	}
	run("install")
	for p, mode := range map[string]os.FileMode{
		"opt/crid/bin/crid": 0o755, "opt/crid/bin/crid-monitor": 0o755,
		"etc/systemd/system/crid.service": 0o644, "etc/crid/crid.toml": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(dest, p))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", p, fi, err, mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "etc/systemd/system/crid.service"))
	for _, want := range []string{"\nExecStart=/opt/crid/bin/crid\n", "Type=notify", "KillMode=process", "Delegate=yes", "ExecReload="} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	conf := filepath.Join(dest, "etc/crid/crid.toml")
	if out, err := exec.Command(filepath.Join(dest, "opt/crid/bin/crid"), "config", "dump", "--config", conf).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "root = '/var/lib/crid'  # "+conf) {
		t.Errorf("the installed config does not load as the effective one: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dest, "etc/crid/crid.d")); err != nil || !fi.IsDir() {
		t.Errorf("no drop-in dir: %v", err)
	}

	mine := "log_level = \"debug\"\n"
	if err := os.WriteFile(conf, []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run("install"); !strings.Contains(out, "kept") {
		t.Errorf("second install did not say it kept the config: %s", out)
	}
	run("uninstall")
	if b, err := os.ReadFile(conf); err != nil || string(b) != mine {
		t.Fatalf("the operator's config changed: %q %v", b, err)
	}
	for _, p := range []string{"opt/crid/bin/crid", "opt/crid/bin/crid-monitor", "etc/systemd/system/crid.service"} {
		if _, err := os.Stat(filepath.Join(dest, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left after uninstall: %v", p, err)
		}
	}
}
