package sandbox_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crid-dev/crid/sandbox"
)

// Pod sandbox events carry the pod id and status, in order.
func TestPodEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	events, cancel := h.m.Subscribe()
	defer cancel()
	pod := h.runPod("web")
	if err := h.m.StopPod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if err := h.m.StopPod(context.Background(), pod); err != nil { // idempotent: no second event
		t.Fatal(err)
	}
	if err := h.m.RemovePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	want := []sandbox.EventType{sandbox.EventCreated, sandbox.EventStarted, sandbox.EventStopped, sandbox.EventDeleted}
	for i, w := range want {
		if ev := nextEvent(t, events, fmt.Sprint(i, " (", w, ")")); ev.Type != w || ev.ID != pod || ev.Pod == nil {
			t.Fatalf("event %d: %+v, want %v", i, ev, w)
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("extra event %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

// A subscriber that does not read is dropped (its channel closed) instead of blocking
// the runtime; other subscribers go on.
func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	slow, cancelSlow := h.m.Subscribe()
	defer cancelSlow()
	fast, cancelFast := h.m.Subscribe()
	defer cancelFast()
	got := make(chan int)
	go func() {
		n := 0
		for range fast {
			n++
		}
		got <- n
	}()
	pod := h.runPod("web")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 400 { // created, stopped, deleted: more than the buffer in all
			id, err := h.m.CreateContainer(context.Background(), pod, ctrConfig("c"))
			if err != nil {
				t.Error(err)
				return
			}
			if err := h.m.RemoveContainer(context.Background(), id); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	// Blocking on the slow subscriber would hang here (until go test's -timeout, with
	// every goroutine's stack); how long the 400 operations take is the machine's.
	<-done
	n := 0
	for range slow {
		n++
	}
	if n == 0 || n > 1024 {
		t.Errorf("slow subscriber got %d events before being dropped", n)
	}
	cancelFast()
	if n := <-got; n < 1200 {
		t.Errorf("reading subscriber got only %d events", n)
	}
}

// A process that exits before StartContainer records RUNNING (its exit event won the race)
// still gets STARTED, then STOPPED, each listing the container in the state it announces:
// kubelet's evented PLEG needs both, in order.
func TestQuickExitAnnouncesStartFirst(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id, err := h.m.CreateContainer(context.Background(), pod, ctrConfig("quick"))
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := h.m.Subscribe()
	defer cancel()
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)
	var got []sandbox.Event
	// The exit is recorded, and STOPPED published, before Start returns to StartContainer.
	mon.AfterStart = func(id string) {
		mon.Exit(id, 0, false)
		for ev := range events {
			got = append(got, ev)
			if ev.ID == id && ev.Type == sandbox.EventStopped {
				return
			}
		}
	}
	if err := h.m.StartContainer(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	// StartContainer publishes synchronously: whatever it sent is buffered by now.
	for drained := false; !drained; {
		select {
		case ev := <-events:
			got = append(got, ev)
		default:
			drained = true
		}
	}
	want := []sandbox.EventType{sandbox.EventStarted, sandbox.EventStopped}
	var types []sandbox.EventType
	for _, ev := range got {
		if ev.ID != id {
			continue
		}
		types = append(types, ev.Type)
		var c *sandbox.Container
		for _, x := range ev.Containers {
			if x.ID == id {
				c = x
			}
		}
		wantState := map[sandbox.EventType]sandbox.ContainerState{
			sandbox.EventStarted: sandbox.ContainerRunning, sandbox.EventStopped: sandbox.ContainerExited,
		}[ev.Type]
		if c == nil || c.State != wantState || c.StartedAt.IsZero() {
			t.Errorf("%v event lists the container as %+v, want %v with a start time", ev.Type, c, wantState)
		}
	}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}
