package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/images"
)

// A failed export (here: an unknown image, with no daemon running) leaves no archive behind
// under the output name, and an archive already there untouched.
func TestFailedExportLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	for _, existing := range []bool{false, true} {
		out := filepath.Join(dir, "out.tar")
		if existing {
			if err := os.WriteFile(out, []byte("older archive"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := newRootCommand()
		cmd.SetArgs([]string{"image", "export", "--config", filepath.Join(dir, "none.toml"),
			"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "-o", out, "no/such:image"})
		if err := os.WriteFile(filepath.Join(dir, "none.toml"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Execute(); err == nil {
			t.Fatal("export of an unknown image succeeded")
		}
		got, err := os.ReadFile(out)
		switch {
		case !existing && !errors.Is(err, fs.ErrNotExist):
			t.Errorf("failed export left %s (%d bytes, %v)", out, len(got), err)
		case existing && string(got) != "older archive":
			t.Errorf("failed export changed the existing archive: %q, %v", got, err)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != "none.toml" && e.Name() != "root" && e.Name() != "state" && e.Name() != "out.tar" {
				t.Errorf("leftover %s", e.Name())
			}
		}
	}
}

// `crid tag` with no daemon tags in the store itself, silently as docker does, and keeps
// docker's wording for a target that is no reference.
func TestTagCommandWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "crid.toml")
	if err := os.WriteFile(cfgPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Root = filepath.Join(dir, "root")
	store, ref := storeWithBusybox(t, imagesConfig(cfg))
	img, err := store.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil { // the command opens the store itself
		t.Fatal(err)
	}
	tag := func(args ...string) (string, error) {
		cmd := newRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"tag", "--config", cfgPath, "--root", cfg.Root, "--state", filepath.Join(dir, "state")}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := tag(ref, "mine:1"); err != nil || out != "" {
		t.Fatalf("crid tag: %q %v, want silent success", out, err)
	}
	if _, err := tag(ref, "bad name"); err == nil || err.Error() != "invalid reference format: bad name" {
		t.Errorf("crid tag as an invalid reference: %v", err)
	}
	if _, err := tag("no/such:image", "other:1"); err == nil || !strings.Contains(err.Error(), `"no/such:image": not found`) {
		t.Errorf("crid tag of an unknown image: %v", err)
	}
	store, err = images.Open(imagesConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if got, err := store.Resolve("mine:1"); err != nil || got.ID != img.ID {
		t.Fatalf("mine:1 after crid tag: %v %v, want %s", got, err, img.ID)
	}
}
