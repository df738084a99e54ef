package supervise

import (
	"testing"
	"time"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// TestRecordJSONOfAnyID: the exit C records and publishes for a container whose id
// holds bytes JSON escapes (quote, backslash, control bytes, DEL, UTF-8) reads back
// in Go as the same id, with the handover's times and a zero "-" start.
func TestRecordJSONOfAnyID(t *testing.T) {
	ids := []string{"q\"b\\s", "\x01\t\n\x1f\x7f", "é ü %25 \u2028"}
	var ctrs []launchCtr
	for _, id := range ids {
		ctrs = append(ctrs, launchCtr{ID: id, Created: created, StartTime: 7})
	}
	r, _ := newRig(t, rigOpts{ctrs: ctrs, subs: 1})
	for _, id := range ids {
		before := time.Now()
		r.do(id, "exit 5")
		st := r.frame(0)
		want := api.State{ID: id, Pid: r.rep.Pids[id], Status: api.StatusStopped, ExitCode: 5}
		checkState(t, st, want, "", before, time.Now())
		rec, err := api.ReadRecord(r.ctrs[id].Dir)
		if err != nil || rec.State != st || rec.StartTime != 7 {
			t.Errorf("%q: state.json %+v (%v), the frame said %+v", id, rec, err, st)
		}
	}
}
