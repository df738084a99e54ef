package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRuntimeHandlers(t *testing.T) {
	t.Parallel()
	cfg, err := Load(write(t, `
[runtime_handlers.runc]
runtime_path = "/usr/sbin/runc"
runtime_root = "/run/crid-runc"
runtime_args = ["--debug"]
user_namespaces = true
privileged_without_host_devices = true
[runtime_handlers.runc.default_annotations]
"a.b/c" = "d"
`), false)
	if err != nil {
		t.Fatal(err)
	}
	want := RuntimeHandler{
		RuntimePath: "/usr/sbin/runc", RuntimeRoot: "/run/crid-runc", RuntimeArgs: []string{"--debug"}, UserNamespaces: true,
		PrivilegedWithoutHostDevices: true, DefaultAnnotations: map[string]string{"a.b/c": "d"},
	}
	if got := cfg.RuntimeHandlers["runc"]; !reflect.DeepEqual(got, want) {
		t.Errorf("runc handler: got %+v, want %+v", got, want)
	}
	if _, ok := cfg.RuntimeHandlers[BuiltinHandler]; !ok || cfg.RuntimeHandlers[BuiltinHandler].External() {
		t.Errorf("the built-in handler %q must stay beside a configured one: %+v", BuiltinHandler, cfg.RuntimeHandlers)
	}
	if got := cfg.HandlerNames(); !reflect.DeepEqual(got, []string{"crid", "runc"}) {
		t.Errorf("HandlerNames = %q", got)
	}
}

func TestRuntimeHandlersRefused(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":          {"[runtime_handlers.runc]\nruntime_pth = \"/x\"\n", "runtime_pth"},
		"relative path":        {"[runtime_handlers.runc]\nruntime_path = \"runc\"\n", "runtime_handlers.runc.runtime_path must be an absolute path"},
		"relative root":        {"[runtime_handlers.runc]\nruntime_path = \"/usr/sbin/runc\"\nruntime_root = \"r\"\n", "runtime_handlers.runc.runtime_root"},
		"bad name":             {"[runtime_handlers.Run_C]\nruntime_path = \"/usr/sbin/runc\"\n", "runtime_handlers.Run_C: a handler name must be a DNS label"},
		"builtin with root":    {"[runtime_handlers.crid]\nruntime_root = \"/r\"\n", "runtime_handlers.crid.runtime_root is only for an external runtime"},
		"builtin with userns":  {"[runtime_handlers.x]\nuser_namespaces = true\n", "runtime_handlers.x.user_namespaces is only for an external runtime"},
		"empty arg":            {"[runtime_handlers.runc]\nruntime_path = \"/usr/sbin/runc\"\nruntime_args = [\"\"]\n", "runtime_handlers.runc.runtime_args[0] is empty"},
		"wrong type":           {"[runtime_handlers.runc]\nruntime_path = 3\n", "runtime_handlers.runc.runtime_path"},
		"not a table":          {"runtime_handlers = \"runc\"\n", "runtime_handlers"},
		"empty annotation key": {"[runtime_handlers.runc]\nruntime_path = \"/usr/sbin/runc\"\n[runtime_handlers.runc.default_annotations]\n\"\" = \"v\"\n", "default_annotations: an empty key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := write(t, tc.body)
			_, _, err := LoadLayers(Layers{Main: p})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want an error naming %s and %q", err, p, tc.want)
			}
		})
	}
}

// A drop-in adds a handler and changes one key of another: tables merge.
func TestRuntimeHandlersMergeAcrossFiles(t *testing.T) {
	t.Parallel()
	main := write(t, "[runtime_handlers.runc]\nruntime_path = \"/usr/sbin/runc\"\nruntime_args = [\"--debug\"]\n")
	dir := filepath.Join(filepath.Dir(main), DropInDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	drop := "[runtime_handlers.crun]\nruntime_path = \"/usr/bin/crun\"\n[runtime_handlers.runc]\nprivileged_without_host_devices = true\n"
	if err := os.WriteFile(filepath.Join(dir, "50-crun.toml"), []byte(drop), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadLayers(Layers{Main: main})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.HandlerNames(); !reflect.DeepEqual(got, []string{"crid", "crun", "runc"}) {
		t.Fatalf("handlers after the drop-in: %q", got)
	}
	r := cfg.RuntimeHandlers["runc"]
	if r.RuntimePath != "/usr/sbin/runc" || !r.PrivilegedWithoutHostDevices || len(r.RuntimeArgs) != 1 {
		t.Fatalf("runc after the drop-in: %+v", r)
	}
}

func TestDefaultDocumentsHandlers(t *testing.T) {
	t.Parallel()
	d := DefaultTOML()
	for _, s := range []string{"[runtime_handlers.crid]", "# [runtime_handlers.runc]", "# runtime_path = '/usr/sbin/runc'", "# runtime_path = '/usr/bin/crun'"} {
		if !strings.Contains(d, s) {
			t.Errorf("crid config default lacks %q", s)
		}
	}
	// The commented example, uncommented, is a valid config.
	var ex strings.Builder
	for _, l := range strings.Split(handlerExamples, "\n") {
		if strings.HasPrefix(l, "# [") || strings.HasPrefix(l, "# runtime") || strings.HasPrefix(l, "# recursive") || strings.HasPrefix(l, "# '") {
			ex.WriteString(strings.TrimPrefix(l, "# ") + "\n")
		}
	}
	cfg, err := Load(write(t, ex.String()), false)
	if err != nil {
		t.Fatalf("the example does not load: %v\n%s", err, ex.String())
	}
	if !cfg.RuntimeHandlers["runc"].External() || !cfg.RuntimeHandlers["crun"].External() {
		t.Fatalf("the example's handlers: %+v", cfg.RuntimeHandlers)
	}
}
