package wire

import (
	"os"
	"testing"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// TestMain removes crid's default cgroup parent after the run when the run created it:
// the integration pods live there and the machine must be left as found.
func TestMain(m *testing.M) {
	created := hoststate.MissingCgroups("crid")
	code := m.Run()
	for _, dir := range created {
		os.Remove(dir) // rmdir: only an empty cgroup goes
	}
	os.Exit(code)
}
