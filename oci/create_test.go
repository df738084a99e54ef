package oci

import (
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sh", "-c", "echo hello; exit 7")
	ws, out := run(t, spec, rootfs)
	if !ws.Exited() || ws.ExitStatus() != 7 {
		t.Fatalf("status %v, want exit 7; output %q", ws, out)
	}
	if strings.TrimSpace(out) != "hello" {
		t.Fatalf("output %q", out)
	}
}
