package monitor

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// A pod the C body cannot take (more containers than its fixed tables hold) is handed
// straight back to Go; Go then stays: switching again at every idle period would cost
// two execs and a log line each time, for ever.
func TestSwitchDeclinedStaysInGo(t *testing.T) {
	requireCBody(t, procBinary)
	c, stateDir := body{"c", false}.start(t, procBinary, func(*StartOptions) {})
	for i := 0; i < 65; i++ {
		run(t, c, fmt.Sprintf("c%d", i), "exec sleep 1094", CreateRequest{})
	}
	mark := resumes(t, stateDir)
	// Many idle periods: each would be a switch declined by C and a resume.
	time.Sleep(10 * testIdle)
	if r := resumes(t, stateDir) - mark; r > 1 {
		b, _ := os.ReadFile(api.LogPath(stateDir))
		t.Errorf("%d resumes in %v of idleness (C declined %d times)", r, 10*testIdle, bytes.Count(b, []byte("bad handover")))
	}
	if _, err := c.State(ctxT(t), "c0"); err != nil {
		t.Fatal(err)
	}
}
