package supervise

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkSupervisedMemory prints what a pod's monitor costs while it sits in
// the C steady state: N monitors (the real crid-monitor binary, each with a
// pod infra and a container that logged a line and runs on, and one that
// exited), mean PSS, USS and RSS from smaps_rollup. Run with -benchtime 1x.
func BenchmarkSupervisedMemory(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "crid-monitor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/crid-dev/crid/cmd/crid-monitor").CombinedOutput(); err != nil {
		b.Skipf("go build: %v\n%s", err, out)
	}
	for _, n := range []int{10, 110} {
		b.Run(fmt.Sprintf("monitors=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var pss, uss, rss float64
				rigs := make([]*rig, n)
				for j := range rigs {
					rigs[j], _ = newRig(b, rigOpts{exec: bin, subs: 1, ctrs: []launchCtr{
						{ID: "pod-infra", Argv: []string{"sleep", "1d"}},
						{ID: "c1", Log: filepath.Join(b.TempDir(), "c1.log"), Argv: []string{"sh", "-c", "echo started; exec sleep 1d"}},
						{ID: "job", Argv: []string{"true"}},
					}})
				}
				for _, r := range rigs {
					r.frame(0) // the job's exit: this monitor runs in C
				}
				for _, r := range rigs {
					m := smapsRollup(b, r.cmd.Process.Pid)
					pss += m["Pss"]
					uss += m["Private_Clean"] + m["Private_Dirty"]
					rss += m["Rss"]
				}
				for _, r := range rigs {
					r.stop()
				}
				b.ReportMetric(pss/float64(n), "PSS-KiB/monitor")
				b.ReportMetric(uss/float64(n), "USS-KiB/monitor")
				b.ReportMetric(rss/float64(n), "RSS-KiB/monitor")
			}
		})
	}
}

func smapsRollup(b *testing.B, pid int) map[string]float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]float64{}
	for _, l := range bytes.Split(data, []byte("\n")) {
		f := bytes.Fields(l)
		if len(f) == 3 && string(f[2]) == "kB" {
			v, _ := strconv.ParseFloat(string(f[1]), 64)
			m[string(bytes.TrimSuffix(f[0], []byte(":")))] = v
		}
	}
	return m
}
