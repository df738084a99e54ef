package sandbox_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	bolt "go.etcd.io/bbolt"

	"github.com/crid-dev/crid/sandbox"
)

// A write the store refuses fails the RPC and changes nothing in memory: what List and
// Status show is what a restarted daemon would load.
func TestFailedWriteChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	ctr := h.createStarted(pod, "app")
	if err := h.m.CloseStore(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	r := &runtimeapi.LinuxContainerResources{CpuShares: 512}
	if err := h.m.UpdatePodResources(ctx, pod, r); err == nil {
		t.Error("UpdatePodResources succeeded without its write")
	}
	if p, _ := h.m.Pod(pod); p.Resources != nil {
		t.Errorf("pod resources %v published without their write", p.Resources)
	}

	if err := h.m.StopContainer(ctx, ctr, 0); err == nil {
		t.Error("StopContainer succeeded without its write")
	}
	if c, _ := h.m.Container(ctr); c.State != sandbox.ContainerRunning {
		t.Errorf("container %s without its write, want RUNNING", c.State)
	}

	if err := h.m.StopPod(ctx, pod); err == nil {
		t.Error("StopPod succeeded without its write")
	}
	if p, _ := h.m.Pod(pod); p.State != sandbox.PodReady || p.NetworkDown {
		t.Errorf("pod %v (network down %v) without its write, want READY", p.State, p.NetworkDown)
	}

	if err := h.m.RemovePod(ctx, pod); err == nil {
		t.Error("RemovePod succeeded without its write")
	}
	if p, err := h.m.Pod(pod); err != nil || p.Phase != sandbox.PhaseCreated {
		t.Errorf("pod after a failed removal: %v %v, want it CREATED", p, err)
	}
}

// A record that does not decode is moved to the quarantine bucket and reported; the
// daemon starts with the others.
func TestCorruptRecordIsQuarantined(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good := h.runPod("web")
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(h.cfg.Root, "sandbox.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	torn := []byte(`{"id":"torn","config":"`)
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("pods")).Put([]byte("torn"), torn) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	m, err := sandbox.New(context.Background(), h.cfg, h.env.Deps(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("a corrupt record kept the daemon from starting: %v", err)
	}
	h.m = m
	if _, err := m.Pod(good); err != nil {
		t.Errorf("the good pod: %v", err)
	}
	if !strings.Contains(logs.String(), "pods/torn") {
		t.Errorf("the corrupt record is not reported; log:\n%s", logs.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(filepath.Join(h.cfg.Root, "sandbox.db"), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("pods")).Get([]byte("torn")); v != nil {
			t.Error("the corrupt record is still among the pods")
		}
		q := tx.Bucket([]byte("quarantine"))
		if q == nil || !bytes.Equal(q.Get([]byte("pods/torn")), torn) {
			t.Error("the corrupt record is not kept, as it was, in quarantine")
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	h.open() // for the harness's cleanup
}
