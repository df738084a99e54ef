package sandbox_test

import (
	"context"
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
		select {
		case ev := <-events:
			if ev.Type != w || ev.ID != pod || ev.Pod == nil {
				t.Fatalf("event %d: %+v, want %v", i, ev, w)
			}
		case <-time.After(time.Second):
			t.Fatalf("event %d missing", i)
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
