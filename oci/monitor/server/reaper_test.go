package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestReaperUnclaimedExitMatchedOnRegister(t *testing.T) {
	r := newReaper()
	r.beginSpawn()
	// The process exits (and is reaped) before Create returned its pid.
	r.exited(42, unix.WaitStatus(3<<8))
	got := -1
	r.register(42, func(ws unix.WaitStatus) { got = exitCode(ws) })
	r.endSpawn()
	if got != 3 {
		t.Fatalf("exit code %d, want 3", got)
	}
}

func TestReaperRegisteredExit(t *testing.T) {
	r := newReaper()
	got := -1
	r.beginSpawn()
	r.register(7, func(ws unix.WaitStatus) { got = exitCode(ws) })
	r.endSpawn()
	if got != -1 {
		t.Fatal("handler ran before the exit")
	}
	r.exited(7, unix.WaitStatus(unix.SIGKILL)) // killed by signal 9
	if got != 128+9 {
		t.Fatalf("exit code %d, want 137", got)
	}
}

func TestReaperDropsOrphanExitsOutsideSpawns(t *testing.T) {
	r := newReaper()
	// A reparented orphan exits while nothing spawns: it must not be kept, or a
	// later process reusing the pid would be reported dead at once.
	r.exited(99, 0)
	r.beginSpawn()
	r.exited(100, 0) // an executor's intermediate process
	r.endSpawn()
	called := false
	r.beginSpawn()
	r.register(99, func(unix.WaitStatus) { called = true })
	r.register(100, func(unix.WaitStatus) { called = true })
	r.endSpawn()
	if called {
		t.Fatal("an old exit was matched to a new process")
	}
	if len(r.unclaimed) != 0 {
		t.Fatalf("unclaimed exits kept: %v", r.unclaimed)
	}
}
