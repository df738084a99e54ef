package sandbox_test

import (
	"context"
	"errors"
	"testing"
)

var errCrash = errors.New("simulated crash")

// crashAfterIntent runs a pod whose creation fails at the injected step with the
// crash point set, so RunPod returns without rolling back: what a daemon crash at that
// step leaves behind.
func crashAfterIntent(t *testing.T, h *harness) {
	t.Helper()
	h.m.SetCrashPoint(true)
	defer h.m.SetCrashPoint(false)
	if _, err := h.m.RunPod(context.Background(), podConfig("web"), ""); err == nil {
		t.Fatal("RunPod succeeded despite the injected failure")
	}
	netns, attached := h.env.Network.Live()
	if len(netns) == 0 || len(attached) == 0 || len(h.env.Mounter.Live()) == 0 {
		t.Fatalf("the simulated crash left nothing to recover: %v %v %v", netns, attached, h.env.Mounter.Live())
	}
}
