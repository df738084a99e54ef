package server

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// reaper reaps every child of the monitor with one wait4(-1) loop: the monitor is a
// child subreaper, so orphans of the pod's containers become its children too.
//
// An exit can be reaped before its pid is registered (a process that dies while
// Create or Exec is still returning its pid). Like containerd's shim, exits that
// nobody claims are kept while a spawn is in flight and matched on registration;
// with no spawn in flight they belong to reparented orphans and are dropped, so a
// reused pid is never matched with an old exit.
type reaper struct {
	mu        sync.Mutex
	owners    map[int]func(unix.WaitStatus)
	unclaimed map[int]unix.WaitStatus
	spawning  int

	// running is held while a wait4 loop runs; a switch to the C body holds it (pause)
	// so that no exit is reaped by a body that will not record it.
	running sync.Mutex
	wake    chan os.Signal
}

func newReaper() *reaper {
	return &reaper{owners: map[int]func(unix.WaitStatus){}, unclaimed: map[int]unix.WaitStatus{},
		wake: make(chan os.Signal, 1)}
}

// run reaps on every SIGCHLD until the process exits. Exits that happened before it
// (while another body of the monitor ran) are reaped at once: their pids must be
// registered before run starts.
func (r *reaper) run() {
	signal.Notify(r.wake, unix.SIGCHLD)
	for {
		r.running.Lock()
		r.reapAll()
		r.running.Unlock()
		<-r.wake
	}
}

// pause returns once no wait4 loop runs and none will start until unpause: children
// that exit meanwhile stay zombies for whoever reaps next.
func (r *reaper) pause() { r.running.Lock() }

// unpause undoes pause and reaps what exited meanwhile.
func (r *reaper) unpause() {
	r.running.Unlock()
	select {
	case r.wake <- unix.SIGCHLD:
	default:
	}
}

func (r *reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if ws.Stopped() || ws.Continued() {
			continue
		}
		r.exited(pid, ws)
	}
}

func (r *reaper) exited(pid int, ws unix.WaitStatus) {
	r.mu.Lock()
	fn, ok := r.owners[pid]
	if ok {
		delete(r.owners, pid)
	} else if r.spawning > 0 {
		r.unclaimed[pid] = ws
	}
	r.mu.Unlock()
	if ok {
		fn(ws)
	}
}

// beginSpawn must precede starting a process whose pid will be registered;
// endSpawn follows the registration (or the failure).
func (r *reaper) beginSpawn() {
	r.mu.Lock()
	r.spawning++
	r.mu.Unlock()
}

func (r *reaper) endSpawn() {
	r.mu.Lock()
	r.spawning--
	if r.spawning == 0 && len(r.unclaimed) > 0 {
		r.unclaimed = map[int]unix.WaitStatus{}
	}
	r.mu.Unlock()
}

// register calls fn once pid has exited; at once if the exit was already reaped.
// fn runs on the reaper's goroutine: it must not block.
func (r *reaper) register(pid int, fn func(unix.WaitStatus)) {
	r.mu.Lock()
	ws, ok := r.unclaimed[pid]
	if ok {
		delete(r.unclaimed, pid)
	} else {
		r.owners[pid] = fn
	}
	r.mu.Unlock()
	if ok {
		fn(ws)
	}
}

// exitCode is the shell's convention: the exit status, or 128+signal.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
