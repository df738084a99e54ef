package server

import (
	"context"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// RunChild gets a helper's exit from the monitor's reaper, which reaps every child: the
// exit status is the helper's, and an ended context kills it and still waits for it.
// (The reaper runs for the rest of this test binary: no other test here has children.)
func TestRunChild(t *testing.T) {
	s := New(Config{})
	go s.reaper.run()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	attr := &os.ProcAttr{Files: []*os.File{null, null, null}}
	for _, code := range []int{0, 3} {
		ws, err := s.RunChild(context.Background(), "/bin/sh", []string{"sh", "-c", "exit " + string(rune('0'+code))}, attr)
		if err != nil || !ws.Exited() || ws.ExitStatus() != code {
			t.Errorf("sh -c 'exit %d': %v %v", code, ws, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ws, err := s.RunChild(ctx, "/bin/sleep", []string{"sleep", "1000"}, attr)
	if !errors.Is(err, context.Canceled) || !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("a cancelled sleep: %v signaled %v %v, want SIGKILL and the context's error", err, ws.Signaled(), ws.Signal())
	}
	if _, err := s.RunChild(context.Background(), "/nonexistent", []string{"x"}, attr); err == nil {
		t.Error("a missing program must fail")
	}
}
