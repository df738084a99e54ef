package server

import (
	"fmt"
	"os/exec"

	"golang.org/x/sys/unix"
)

// monitorRunsPostHooks: see PostHooksRunner.
func (s *Server) monitorRunsPostHooks() bool {
	r, ok := s.exec.(PostHooksRunner)
	return !ok || !r.RunsPostHooks()
}

// waitHook runs a hook process and takes its exit from the reaper, which collects every
// child of the monitor (exec.Cmd's own wait would find it gone).
func (s *Server) waitHook(cmd *exec.Cmd) error {
	s.reaper.beginSpawn()
	if err := cmd.Start(); err != nil {
		s.reaper.endSpawn()
		return err
	}
	exited := make(chan unix.WaitStatus, 1)
	s.reaper.register(cmd.Process.Pid, func(ws unix.WaitStatus) { exited <- ws })
	s.reaper.endSpawn()
	ws := <-exited // a timeout kills the process (the Cmd's context), so this comes
	// Releases the Cmd's pipes and goroutines; its wait itself fails on the pidfd of a
	// process already reaped, never on another child that reused the pid.
	_ = cmd.Wait()
	switch {
	case ws.Signaled():
		return fmt.Errorf("killed by %v", ws.Signal())
	case ws.ExitStatus() != 0:
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	}
	return nil
}
