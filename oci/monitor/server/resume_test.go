package server

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// A handover that says running for an init that is gone (the other body reaped it
// without recording the exit) must not leave the container running for ever.
func TestResumeRecordsAnInitGoneUnseen(t *testing.T) {
	stateDir := t.TempDir()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stateDir + "/s", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	lf, err := l.File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A bare fd the handover names: Resume owns it (no *os.File may close it later).
	lfd, err := unix.Dup(int(lf.Fd()))
	lf.Close()
	if err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("/bin/sleep", "0.1")
	if err := gone.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := api.ProcStartTime(gone.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Wait(); err != nil { // reaped: its pid names nothing of ours now
		t.Fatal(err)
	}
	dir := api.ContainerDir(stateDir, "c")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(&specs.Spec{Process: &specs.Process{Args: []string{"x"}}})
	if err := os.WriteFile(dir+"/spec.json", b, 0o600); err != nil {
		t.Fatal(err)
	}
	hc := api.NewHandoverContainer(api.Record{State: api.State{ID: "c", Pid: gone.Process.Pid, Status: api.StatusRunning,
		CreatedAt: time.Now(), StartedAt: time.Now()}, StartTime: start})
	hc.Dir = dir
	s, rl, err := Resume(Config{StateDir: stateDir, Executor: NewProcessExecutor()}, &api.Handover{Listener: lfd, Containers: []*api.HandoverContainer{hc}})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	c := s.containers["c"]
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the lost exit was never recorded")
	}
	rec, err := api.ReadRecord(dir)
	if err != nil || rec.Status != api.StatusStopped || rec.ExitCode != lostExitCode {
		t.Fatalf("record %+v %v", rec, err)
	}
}
