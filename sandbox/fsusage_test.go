package sandbox_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crid-dev/crid/sandbox"
)

// Stats requests (and ImageFsInfo's sum of the writable layers) never walk a writable
// layer: they report the collector's last sample, and only while it is at most
// FsUsageMaxAge old. kubelet asks for every container's
// stats every few seconds; a walk per request costs a stat per file of every layer.
func TestStatsNeverWalkWritableLayers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var walks atomic.Int64
	h.env.Images.UsageFunc = func(string) (sandbox.FsUsage, error) {
		n := walks.Add(1)
		return sandbox.FsUsage{Mountpoint: "/layers", UsedBytes: uint64(n) * 4096, InodesUsed: uint64(n)}, nil
	}
	const maxAge = 30 * time.Second
	h.cfg.FsUsageInterval, h.cfg.FsUsageMaxAge = -1, maxAge // passes run only when the test says
	h.restart()
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	h.m.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	created := now

	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	if n := walks.Load(); n != 1 {
		t.Fatalf("%d walks when the container was made, want 1 (its empty layer)", n)
	}
	fs := func() *sandbox.ContainerStats {
		t.Helper()
		ctx := context.Background()
		cs, err := h.m.ContainerStats(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		list := h.m.ListContainerStats(ctx, sandbox.ContainerFilter{})
		pods := h.m.ListPodStats(ctx, sandbox.PodFilter{})
		ps, err := h.m.PodStats(ctx, pod)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []*sandbox.ContainerStats{list[0], pods[0].Containers[0], ps.Containers[0]} {
			if (o.Fs == nil) != (cs.Fs == nil) || (cs.Fs != nil && *o.Fs != *cs.Fs) || !o.FsTimestamp.Equal(cs.FsTimestamp) {
				t.Fatalf("the stats calls disagree: %+v at %v vs %+v at %v", o.Fs, o.FsTimestamp, cs.Fs, cs.FsTimestamp)
			}
		}
		return cs
	}
	for range 5 {
		if cs := fs(); cs.Fs == nil || cs.Fs.UsedBytes != 4096 || !cs.FsTimestamp.Equal(created) {
			t.Fatalf("stats report %+v at %v, want the creation sample", cs.Fs, cs.FsTimestamp)
		}
	}
	setNow(created.Add(maxAge))
	if cs := fs(); cs.Fs == nil {
		t.Fatal("a sample exactly FsUsageMaxAge old was left out")
	}
	setNow(created.Add(maxAge + time.Nanosecond))
	if cs := fs(); cs.Fs != nil || !cs.FsTimestamp.IsZero() {
		t.Fatalf("a sample older than FsUsageMaxAge was reported: %+v at %v", cs.Fs, cs.FsTimestamp)
	}
	if used, inodes := h.m.WritableLayersUsage(); used != 0 || inodes != 0 {
		t.Fatalf("the node's writable layers count a stale sample: %d bytes, %d inodes", used, inodes)
	}
	if n := walks.Load(); n != 1 {
		t.Fatalf("%d walks after 20 stats requests, want none beyond the creation one", n)
	}

	h.m.MeasureFsUsage()
	if cs := fs(); walks.Load() != 2 || cs.Fs == nil || cs.Fs.UsedBytes != 2*4096 || !cs.FsTimestamp.Equal(created.Add(maxAge+time.Nanosecond)) {
		t.Fatalf("after a collector pass: %d walks, %+v at %v", walks.Load(), cs.Fs, cs.FsTimestamp)
	}
	if used, inodes := h.m.WritableLayersUsage(); used != 2*4096 || inodes != 2 || walks.Load() != 2 {
		t.Fatalf("the node's writable layers: %d bytes, %d inodes after %d walks; want the sample's 8192, 2 and no walk", used, inodes, walks.Load())
	}
	h.m.MeasureFsUsage() // the sample is fresh: nothing to walk
	if n := walks.Load(); n != 2 {
		t.Fatalf("a pass walked a layer measured less than half an interval ago (%d walks)", n)
	}

	if err := h.m.StopContainer(context.Background(), id, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.m.RemoveContainer(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := h.m.FsSamples(); n != 0 {
		t.Fatalf("%d writable-layer samples left after the container was removed", n)
	}
}

// A container the collector has no sample of (one recovered after a restart) makes the
// stats request ask the background collector for a pass: the request itself does not walk.
func TestStatsKickTheCollector(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	walked := make(chan string, 10)
	release := make(chan struct{})
	h.env.Images.UsageFunc = func(id string) (sandbox.FsUsage, error) {
		walked <- id
		<-release // a layer that takes for ever to walk
		return sandbox.FsUsage{UsedBytes: 1}, nil
	}
	h.cfg.FsUsageInterval = time.Hour // no tick during the test
	h.restart()
	t.Cleanup(func() { close(release) }) // before Close waits for the collector

	cs, err := h.m.ContainerStats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Fs != nil {
		t.Fatalf("a recovered container has writable-layer figures before any walk: %+v", cs.Fs)
	}
	select {
	case got := <-walked:
		if got != id {
			t.Fatalf("the collector walked %s, want %s", got, id)
		}
	case <-time.After(time.Minute):
		t.Fatal("the request asked for no collector pass")
	}
	// The walk is stuck; requests still answer, without figures.
	for range 3 {
		if cs, err := h.m.ContainerStats(context.Background(), id); err != nil || cs.Fs != nil {
			t.Fatalf("%+v %v", cs, err)
		}
	}
}
