package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crid-dev/crid/sandbox/sandboxtest"
)

// mustPanic runs f and fails the test unless it panics (the RPC wrapper catches such a
// panic and answers Internal; the daemon lives on).
func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	f()
}

// A bug that panics half-way through RunPod must not keep the name reserved for ever
// (every kubelet retry would wait until its deadline) nor leave the netns, CNI
// attachment, /dev/shm mount and monitor until the next daemon start.
func TestRunPodPanicRollsBackAndFreesTheName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env.Fail.Set("infra", sandboxtest.ErrPanic)
	mustPanic(t, func() { _, _ = h.m.RunPod(context.Background(), podConfig("web"), "") })
	netns, attached := h.env.Network.Live()
	if len(netns)+len(attached)+len(h.env.Mounter.Live())+len(h.env.Runtime.Live()) > 0 {
		t.Errorf("left behind: netns %v attached %v mounts %v monitors %v",
			netns, attached, h.env.Mounter.Live(), h.env.Runtime.Live())
	}
	h.env.Fail.Set("infra", nil)
	// A name left reserved makes the retry wait for the deadline; a fixed one would be a
	// guess about the machine's load (bbolt's fsync on a busy disk), so it is the test's.
	ctx, cancel := context.WithDeadline(context.Background(), hangBound(t))
	defer cancel()
	id, err := h.m.RunPod(ctx, podConfig("web"), "")
	if err != nil {
		t.Fatalf("retry after the panic: %v", err)
	}
	if err := h.m.RemovePod(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	h.assertClean()
}

func TestCreateContainerPanicRollsBackAndFreesTheName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	h.env.Fail.Set("create", sandboxtest.ErrPanic)
	mustPanic(t, func() { _, _ = h.m.CreateContainer(context.Background(), pod, ctrConfig("app")) })
	if l := h.env.Images.Live(); len(l) != 0 {
		t.Errorf("rootfs left: %v", l)
	}
	p, _ := h.m.Pod(pod)
	if ents, _ := os.ReadDir(filepath.Join(p.Dir, "containers")); len(ents) != 0 {
		t.Errorf("container dirs left: %d", len(ents))
	}
	h.env.Fail.Set("create", nil)
	// A name left reserved makes the retry wait for the deadline; a fixed one would be a
	// guess about the machine's load (bbolt's fsync on a busy disk), so it is the test's.
	ctx, cancel := context.WithDeadline(context.Background(), hangBound(t))
	defer cancel()
	if _, err := h.m.CreateContainer(ctx, pod, ctrConfig("app")); err != nil {
		t.Fatalf("retry after the panic: %v", err)
	}
	if err := h.m.RemovePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	h.assertClean()
}
