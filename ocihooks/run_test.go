package ocihooks

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Each hook gets the state on stdin and only its own env; the first failure stops the
// rest and is reported with the hook's output.
func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	st := State("c1", specs.StateCreating, 42, "/bundle", map[string]string{"a": "b"})
	hooks := []specs.Hook{
		{Path: "/bin/sh", Args: []string{"sh", "-c", `cat > "$OUT"; echo "env:$(env | grep -c .)" >> "$OUT"`}, Env: []string{"OUT=" + out}},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "echo broken >&2; exit 3"}},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + filepath.Join(dir, "never")}},
	}
	err := Run(context.Background(), "prestart", hooks, st, nil)
	if err == nil || !strings.Contains(err.Error(), "prestart hook #1") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); err == nil {
		t.Error("a hook after the failed one ran")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	js, envLine, _ := strings.Cut(string(b), "env:")
	var got specs.State
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatalf("state on stdin %q: %v", js, err)
	}
	if got.ID != "c1" || got.Status != specs.StateCreating || got.Pid != 42 || got.Bundle != "/bundle" || got.Annotations["a"] != "b" || got.Version == "" {
		t.Errorf("state %+v", got)
	}
	// OUT and what sh sets itself (PWD, SHLVL...), never the test's environment.
	if n := strings.TrimSpace(envLine); n == "" || len(n) > 1 {
		t.Errorf("hook env had %s entries: the runtime's environment leaked", n)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	one := 1
	err := Run(context.Background(), "createRuntime", []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "600"}, Timeout: &one}}, State("c", specs.StateCreating, 1, "", nil), nil)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("a hung hook: %v", err)
	}
}
