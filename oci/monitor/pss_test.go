package monitor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// TestMonitorMemory prints the monitor's memory (from /proc/PID/smaps_rollup) for
// a pod with 1 and with 5 sleep containers, and per pod with 5 pods running side
// by side (their shared text is then split between them). It asserts nothing:
//
//	go test -run TestMonitorMemory -v ./oci/monitor/
func TestMonitorMemory(t *testing.T) {
	requireOCI(t)
	// Monitors idle past their idle period: the figures are those of the body a pod
	// rests in (the C body when the binary links it, as crid runs them by default).
	idle := time.Duration(0)
	if b, err := os.ReadFile(ociEnv.binary); err == nil && bytes.Contains(b, []byte("crid_supervise")) {
		idle = 200 * time.Millisecond
	}
	t.Logf("idle switch: %v", idle)
	var all []string
	// Let start-up garbage be collected and returned (the monitor trims 1s after a Create),
	// and every monitor switch to its C body.
	settle := func() {
		time.Sleep(2 * time.Second)
		if idle == 0 {
			return
		}
		for _, d := range all {
			deadline := time.Now().Add(20 * time.Second)
			for threads(t, d) != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("monitor of %s did not switch to its C body", d)
				}
				time.Sleep(10 * time.Millisecond) // polling for a condition
			}
		}
	}
	measure := func(stateDir string) memFigures {
		pid, _, err := api.ReadPidFile(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := readRollup(pid)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	pod := func(n int) string {
		c, stateDir := startMonitorWith(t, ociEnv.binary, func(o *StartOptions) { o.Idle = idle })
		for i := 0; i < n; i++ {
			runBB(t, c, fmt.Sprintf("c%d", i), CreateRequest{LogPath: t.TempDir() + "/log"}, "sleep", "1000")
		}
		all = append(all, stateDir)
		return stateDir
	}
	t.Logf("%-34s %8s %8s %8s", "monitor", "PSS KiB", "RSS KiB", "USS KiB")
	shmem0 := meminfo(t, "Shmem:")
	one := pod(1)
	settle()
	t.Logf("%-34s %s", "1 pod, 1 container", measure(one))
	five := pod(5)
	settle()
	t.Logf("%-34s %s", "1 pod, 5 containers (+1 pod alive)", measure(five))
	var dirs []string
	for i := 0; i < 3; i++ {
		dirs = append(dirs, pod(1))
	}
	settle()
	var sum memFigures
	for _, d := range append(dirs, one, five) {
		m := measure(d)
		sum.pss += m.pss
		sum.rss += m.rss
		sum.uss += m.uss
	}
	t.Logf("%-34s %s", "5 pods (11 containers), mean", memFigures{sum.pss / 5, sum.rss / 5, sum.uss / 5})
	for i := 0; i < 5; i++ {
		dirs = append(dirs, pod(1))
	}
	settle()
	sum = memFigures{}
	for _, d := range append(dirs, one, five) {
		m := measure(d)
		sum.pss += m.pss
		sum.rss += m.rss
		sum.uss += m.uss
	}
	t.Logf("%-34s %s", "10 pods (16 containers), mean", memFigures{sum.pss / 10, sum.rss / 10, sum.uss / 10})
	t.Logf("Shmem growth per pod: %d KiB (memory no process maps, e.g. a memfd: not in PSS)", (meminfo(t, "Shmem:")-shmem0)/10)
}

func meminfo(t *testing.T, key string) int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

type memFigures struct{ pss, rss, uss int }

func (m memFigures) String() string { return fmt.Sprintf("%8d %8d %8d", m.pss, m.rss, m.uss) }

func readRollup(pid int) (memFigures, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memFigures{}, err
	}
	defer f.Close()
	var m memFigures
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fs[1])
		switch fs[0] {
		case "Pss:":
			m.pss = v
		case "Rss:":
			m.rss = v
		case "Private_Clean:", "Private_Dirty:":
			m.uss += v
		}
	}
	return m, sc.Err()
}
