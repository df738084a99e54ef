package supervise

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// TestHandoverParserUnderASan: handover.c, built with AddressSanitizer and
// UndefinedBehaviorSanitizer, parses and writes back handovers Go wrote and
// thousands of damaged ones (bytes changed, lines cut, repeated, dropped or swapped,
// huge numbers, bad escapes, too many fields, pending lengths past the end) without
// touching memory it does not own. The handover is the monitor's own, but a bug on
// either side must not become memory corruption in a process that owns the pod.
func TestHandoverParserUnderASan(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	drv := filepath.Join(dir, "drv")
	out, err := exec.Command(cc, "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
		"-o", drv, "testdata/asan_driver.c", "handover.c").CombinedOutput()
	if err != nil {
		t.Skipf("gcc cannot build with the sanitizers here: %v\n%s", err, out)
	}

	var seeds [][]byte
	for n := 0; n < 4; n++ {
		seeds = append(seeds, seedHandover(t, n))
	}
	rnd := rand.New(rand.NewSource(16)) //nolint:gosec // reproducible damage, not secrets
	var files []string
	for i := 0; i < 3000; i++ {
		b := mutate(rnd, append([]byte(nil), seeds[rnd.Intn(len(seeds))]...))
		f := filepath.Join(dir, fmt.Sprintf("h%04d", i))
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	files = append(files, seedFiles(t, dir, seeds)...)
	for len(files) > 0 {
		n := min(len(files), 300)
		cmd := exec.Command(drv, files[:n]...)
		cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS=print_stacktrace=1")
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Fatalf("handover.c on %s..%s: %v\n%s", filepath.Base(files[0]), filepath.Base(files[n-1]), err, out)
		}
		files = files[n:]
	}
}

func seedFiles(t *testing.T, dir string, seeds [][]byte) []string {
	var out []string
	for i, b := range seeds {
		f := filepath.Join(dir, fmt.Sprintf("seed%d", i))
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// seedHandover is what Go writes for n containers with every field used.
func seedHandover(t *testing.T, n int) []byte {
	h := &api.Handover{Argv: []string{"/usr/bin/crid-monitor", "monitor", "pod x%", ""}, Listener: 5, Subs: []int{7, 8}}
	for i := 0; i < n; i++ {
		c := api.NewHandoverContainer(api.Record{State: api.State{
			ID: fmt.Sprintf("c%d \"\\\x01é", i), Pid: 100 + i, Status: []string{api.StatusRunning, api.StatusStopped}[i%2],
			CreatedAt: time.Unix(1700000000, 5).UTC(), StartedAt: time.Unix(1700000001, 0),
		}, StartTime: 99})
		c.Dir, c.Log, c.LogPath, c.MaxLine, c.Out, c.Err = "/run/x/"+c.ID, 9, "/var/log/a b", []int{0, 2, 8, 16384}[i%4], 10, 11
		c.CgroupProcs = []string{"/sys/fs/cgroup/a", "/sys/fs/cgroup/b"}
		c.OOMFile, c.OOMKey, c.OOMBase, c.OOMWatch = "/sys/fs/cgroup/memory.events", "oom_kill", 3, i%2 == 0
		c.PendingOut, c.PendingErr = []byte("pa\x00r"[:1+i%2]), []byte("x")
		c.Extra = []string{"later=1", "k=%20"}
		h.Containers = append(h.Containers, c)
	}
	b, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutate damages a handover one to four times.
func mutate(rnd *rand.Rand, b []byte) []byte {
	lines := func() [][]byte { return bytes.SplitAfter(b, []byte("\n")) }
	insert := func(s string) {
		pos := rnd.Intn(len(b) + 1)
		b = append(b[:pos:pos], append([]byte(s), b[pos:]...)...)
	}
	for k := rnd.Intn(4) + 1; k > 0; k-- {
		switch rnd.Intn(9) {
		case 0:
			if len(b) > 0 {
				b[rnd.Intn(len(b))] = byte(rnd.Intn(256))
			}
		case 1:
			b = b[:rnd.Intn(len(b)+1)]
		case 2:
			ls := lines()
			j := rnd.Intn(len(ls))
			b = bytes.Join(append(ls[:j+1:j+1], ls[j:]...), nil)
		case 3:
			ls := lines()
			j := rnd.Intn(len(ls))
			b = bytes.Join(append(ls[:j:j], ls[j+1:]...), nil)
		case 4:
			insert([]string{"=-1", "=99999999999999999999", "=0", "=1073741824", "=16777216", " 9223372036854775807", " 18446744073709551616", "=-9223372036854775808"}[rnd.Intn(8)])
		case 5:
			ls := lines()
			x, y := rnd.Intn(len(ls)), rnd.Intn(len(ls))
			ls[x], ls[y] = ls[y], ls[x]
			b = bytes.Join(ls, nil)
		case 6:
			b = append([]byte(fmt.Sprintf("pending c0%%20%%22%%5C%%01%%C3%%A9 stdout %d\n", rnd.Intn(20000))), b...)
		case 7:
			insert([]string{"%", "%4", "%zz", "%00", "  ", "=", "\n", "end\n"}[rnd.Intn(8)])
		case 8:
			if pos := bytes.Index(b, []byte("ctr ")); pos >= 0 {
				b = append(b[:pos+4:pos+4], append([]byte(strings.Repeat("cgproc=x ", rnd.Intn(50))), b[pos+4:]...)...)
			}
		}
	}
	return b
}
