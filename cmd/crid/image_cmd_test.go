package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
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
