package server

import (
	"context"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// RunChild runs a helper program (an external OCI runtime's command) to its end and
// returns how it ended. The monitor's reaper reaps every child with wait4(-1), so an
// executor must never wait for a child itself (os/exec's Wait would race the reaper
// for the exit): the reaper hands the exit over. attr.Files are the child's fds as
// they are (no copying goroutines). Ending ctx kills the child; its exit is still
// waited for.
func (s *Server) RunChild(ctx context.Context, path string, args []string, attr *os.ProcAttr) (unix.WaitStatus, error) {
	exited := make(chan unix.WaitStatus, 1)
	var mu sync.Mutex // guards reaped: the pid is ours to kill until reaped
	reaped := false
	s.reaper.beginSpawn()
	p, err := os.StartProcess(path, args, attr)
	pid := 0
	if err == nil {
		pid = p.Pid
		_ = p.Release() // the reaper waits for it, not os.Process
		s.reaper.register(pid, func(ws unix.WaitStatus) {
			mu.Lock()
			reaped = true
			mu.Unlock()
			exited <- ws
		})
	}
	s.reaper.endSpawn()
	if err != nil {
		return 0, err
	}
	select {
	case ws := <-exited:
		return ws, nil
	case <-ctx.Done():
		mu.Lock()
		if !reaped {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		mu.Unlock()
		return <-exited, ctx.Err()
	}
}
