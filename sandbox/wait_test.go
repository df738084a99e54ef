package sandbox_test

import (
	"testing"
	"time"

	"github.com/crid-dev/crid/sandbox"
)

// hangBound is when a wait for something asynchronous (an exit applied on a pod's event
// goroutine, an event published) gives up: the test binary's own deadline, less a margin to
// report which wait hung. A fixed second is a guess about the machine's load (with -race
// and parallel tests on a busy 2-core machine a goroutine hand-off took longer), not a
// property of the code, so no wait here has one.
func hangBound(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-10 * time.Second)
	}
	return time.Now().Add(10 * time.Minute)
}

// waitUntil polls cond until it holds; what names the awaited state for a hang report.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for bound := hangBound(t); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(bound) {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

// nextEvent waits for the next event on a subscription; what names it for a hang report.
func nextEvent(t *testing.T, events <-chan sandbox.Event, what string) sandbox.Event {
	t.Helper()
	timer := time.NewTimer(time.Until(hangBound(t)))
	defer timer.Stop()
	select {
	case ev := <-events:
		return ev
	case <-timer.C:
		t.Fatalf("event %s never came", what)
		return sandbox.Event{}
	}
}
