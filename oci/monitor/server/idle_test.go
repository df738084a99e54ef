package server

import (
	"net"
	"testing"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// notSupervisable is an executor the C body cannot stand in for (an external runtime).
type notSupervisable struct{ Executor }

func TestQuietRefusesWhatCannotCross(t *testing.T) {
	l, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	newServer := func(ex Executor) *Server {
		s := New(Config{StateDir: t.TempDir(), Executor: ex})
		s.listener = l
		return s
	}
	withStatus := func(status string) *Server {
		s := newServer(NewProcessExecutor())
		s.containers["c"] = &container{id: "c", rec: api.Record{State: api.State{ID: "c", Status: status}}}
		return s
	}
	if why := withStatus(api.StatusRunning).quietLocked(); why != "" {
		t.Fatalf("a running container refused: %s", why)
	}
	if why := withStatus(api.StatusStopped).quietLocked(); why != "" {
		t.Fatalf("a stopped container refused: %s", why)
	}
	for name, s := range map[string]*Server{
		"created":        withStatus(api.StatusCreated),
		"being created":  withStatus(""),
		"external":       newServer(notSupervisable{NewProcessExecutor()}),
		"not serving":    New(Config{Executor: NewProcessExecutor()}),
		"busy":           func() *Server { s := newServer(NewProcessExecutor()); s.active = 1; return s }(),
		"shutting down":  func() *Server { s := newServer(NewProcessExecutor()); s.shuttingDown = true; return s }(),
		"after shutdown": func() *Server { s := newServer(NewProcessExecutor()); close(s.stopped); return s }(),
	} {
		if s.quietLocked() == "" {
			t.Errorf("%s: would switch", name)
		}
	}
}

// A kept connection whose request arrives during a switch is not served (its client
// redoes the request); one woken before is counted as in flight.
func TestKeptConnectionDuringSwitch(t *testing.T) {
	s := New(Config{Executor: NewProcessExecutor()})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s.active = 1
	s.keep(a)
	if s.active != 0 {
		t.Fatalf("active %d after keep", s.active)
	}
	if !s.wake(a) || s.active != 1 {
		t.Fatalf("wake refused or not counted (active %d)", s.active)
	}
	s.keep(a)
	s.switching = true
	s.switchDone = make(chan struct{})
	if s.wake(a) || s.active != 0 {
		t.Fatalf("a request taken during a switch (active %d)", s.active)
	}
}
