package ocihooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func writeHook(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hookJSON(path, when, stages string) string {
	return `{"version": "1.0.0", "hook": {"path": "` + path + `", "args": ["x", "` + path + `"]}, "when": ` + when + `, "stages": ` + stages + `}`
}

// A name in a later dir masks the earlier one's; order is by lower-cased name.
func TestReadOrderAndMasking(t *testing.T) {
	t.Parallel()
	low, high := t.TempDir(), t.TempDir()
	writeHook(t, low, "02-b.json", hookJSON("/bin/false", `{"always": true}`, `["createRuntime"]`))
	writeHook(t, high, "02-b.json", hookJSON("/bin/true", `{"always": true}`, `["createRuntime"]`))
	writeHook(t, low, "01-A.json", hookJSON("/bin/sh", `{"always": true}`, `["poststop"]`))
	writeHook(t, low, "notes.txt", "not a hook")
	files, err := Read([]string{low, high, filepath.Join(low, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Hook.Path != "/bin/sh" || files[1].Hook.Path != "/bin/true" {
		t.Fatalf("files: %+v", files)
	}
	s := &specs.Spec{Process: &specs.Process{Args: []string{"app"}}, Hooks: &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/cdi"}}}}
	Add(s, files, nil, false)
	if len(s.Hooks.CreateRuntime) != 2 || s.Hooks.CreateRuntime[0].Path != "/cdi" || s.Hooks.CreateRuntime[1].Path != "/bin/true" || len(s.Hooks.Poststop) != 1 {
		t.Errorf("hooks added: %+v", s.Hooks)
	}
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"version":       `{"version": "0.1.0", "hook": "/bin/true", "stages": ["prestart"]}`,
		"relative path": hookJSON("bin/true", `{"always": true}`, `["prestart"]`),
		"missing path":  hookJSON("/nonexistent/hook", `{"always": true}`, `["prestart"]`),
		"no condition":  hookJSON("/bin/true", `{}`, `["prestart"]`),
		"no stage":      hookJSON("/bin/true", `{"always": true}`, `[]`),
		"unknown stage": hookJSON("/bin/true", `{"always": true}`, `["prestop"]`),
		"bad regexp":    hookJSON("/bin/true", `{"commands": ["("]}`, `["prestart"]`),
		"unknown key":   `{"version": "1.0.0", "hook": {"path": "/bin/true"}, "when": {"always": true}, "stages": ["prestart"], "extra": 1}`,
		"bad timeout":   `{"version": "1.0.0", "hook": {"path": "/bin/true", "timeout": 0}, "when": {"always": true}, "stages": ["prestart"]}`,
		"not json":      `{`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeHook(t, dir, "h.json", body)
			if _, err := Read([]string{dir}); err == nil || !strings.Contains(err.Error(), "h.json") {
				t.Errorf("want an error naming the file, got %v", err)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	spec := &specs.Spec{Process: &specs.Process{Args: []string{"/usr/sbin/init", "--x"}}}
	annotations := map[string]string{"com.example.department": "cfd-fluid-dynamics", "other": "y"}
	for _, tc := range []struct {
		name  string
		when  string
		binds bool
		want  bool
	}{
		{"always", `{"always": true}`, false, true},
		{"always false", `{"always": false}`, false, false},
		{"command", `{"commands": [".*/init$", "^sh$"]}`, false, true},
		{"command no match", `{"commands": ["^sh$"]}`, false, false},
		{"annotation", `{"annotations": {"^com\\.example\\.department$": ".*fluid-dynamics$"}}`, false, true},
		{"annotation value differs", `{"annotations": {"^com\\.example\\.department$": "^physics$"}}`, false, false},
		{"bind mounts asked", `{"hasBindMounts": true}`, true, true},
		{"no bind mounts", `{"hasBindMounts": true}`, false, false},
		{"all must hold", `{"always": true, "commands": [".*/init$"], "hasBindMounts": true}`, false, false},
		{"all hold", `{"always": true, "commands": [".*/init$"], "hasBindMounts": true}`, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHook(t, dir, "h.json", hookJSON("/bin/true", tc.when, `["prestart"]`))
			files, err := Read([]string{dir})
			if err != nil {
				t.Fatal(err)
			}
			if got := files[0].Matches(spec, annotations, tc.binds); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}
