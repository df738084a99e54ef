package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crid-dev/crid/test/e2e/hoststate"

	"github.com/crid-dev/crid/internal/testenv"
)

// TestMain checks the prerequisites, finds or builds the binaries, starts the test
// registry, and after the tests stops the shared daemon; a failed cleanup fails the run.
func TestMain(m *testing.M) {
	if !testenv.Privileged() {
		fmt.Println("e2e: skipped: needs root (crid runs containers)")
		os.Exit(0)
	}
	for _, p := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/portmap", "/usr/lib/cni/loopback"} {
		if _, err := os.Stat(p); err != nil {
			fmt.Printf("e2e: %v (run hack/setup.sh)\n", err)
			os.Exit(1)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		fmt.Println("e2e: iptables missing (run hack/setup.sh)")
		os.Exit(1)
	}
	rmBins, err := findBinaries()
	if err != nil {
		fmt.Println("e2e:", err)
		os.Exit(1)
	}
	stopReg, err := startRegistry()
	if err != nil {
		rmBins()
		fmt.Println("e2e: test registry:", err)
		os.Exit(1)
	}
	newParents := hoststate.MissingCgroups("crid") // crid's default cgroup parent
	code := m.Run()
	if errs := stopShared(); len(errs) > 0 {
		for _, e := range errs {
			fmt.Println("e2e: shared daemon cleanup:", e)
		}
		code = 1
	}
	stopReg()
	rmBins()
	os.Remove(subnetLocks) // only when empty: other runs may still hold theirs
	for _, dir := range newParents {
		os.Remove(dir) // rmdir: only an empty cgroup goes, never one with members or children
	}
	os.Exit(code)
}

// The shared daemon serves the tests that can share one crid safely (each makes its own
// pods and uses its own image names); restart and crash tests start their own.
var (
	sharedOnce sync.Once
	shared     *Daemon
	sharedErr  error
)

// sharedDaemon returns the shared crid, starting it on first use, and prints its log from
// the test's start when the test fails.
func sharedDaemon(t *testing.T) *Daemon {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = newDaemon(daemonOptions{})
	})
	if sharedErr != nil {
		t.Fatalf("shared crid: %v", sharedErr)
	}
	if shared.Pid() == 0 {
		t.Fatalf("shared crid is not running (a previous test killed it?):\n%s", shared.logTail(0, 4000))
	}
	off := shared.logSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("crid log during this test:\n%s", shared.logTail(off, 12000))
		}
	})
	return shared
}

func stopShared() []error {
	if shared == nil {
		return nil
	}
	return shared.Cleanup()
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }
