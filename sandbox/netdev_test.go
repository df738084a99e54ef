package sandbox

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// Not parallel: AllocsPerRun.
func TestParseNetDev(t *testing.T) {
	in := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
  eth0:    9000      70    1    2    0     0          0         0     5000      40    3    4    0     0       0          0
`
	want := []NetStats{{Name: "eth0", RxBytes: 9000, RxPackets: 70, RxErrors: 1, RxDropped: 2, TxBytes: 5000, TxPackets: 40, TxErrors: 3, TxDropped: 4}}
	if got := parseNetDev([]byte(in)); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseNetDev = %+v, want %+v", got, want)
	}
	// The sampler parses every ready pod's file each pass: the answer (its slice and the
	// interface's name) is all it allocates.
	file := []byte(in)
	if n := testing.AllocsPerRun(100, func() { parseNetDev(file) }); n > 2 {
		t.Errorf("parseNetDev allocates %.0f times for one interface, want 2", n)
	}
	// Odd values read as 0, a line short of the 12 counters is skipped.
	odd := "  eth1: 12x 1 2 3 0 0 0 0 99999999999999999999999 5 6 7\n  eth2: 1 2 3\n"
	want = []NetStats{{Name: "eth1", RxPackets: 1, RxErrors: 2, RxDropped: 3, TxPackets: 5, TxErrors: 6, TxDropped: 7}}
	if got := parseNetDev([]byte(odd)); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseNetDev(odd) = %+v, want %+v", got, want)
	}
}

func BenchmarkParseNetDev(b *testing.B) {
	in := []byte(`Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
  eth0:    9000      70    1    2    0     0          0         0     5000      40    3    4    0     0       0          0
`)
	b.ReportAllocs()
	for b.Loop() {
		parseNetDev(in)
	}
}

// A pod's net/dev file is opened once and kept (it holds the pod's network namespace), a
// new pause pid replaces it, and forgetting the pod (its stop or removal) or a sampler
// pass that finds it no longer ready closes it. Not parallel: it counts the process's
// open net/dev files, which other tests' Managers open too.
func TestNetDevFilesKeptAndClosed(t *testing.T) {
	m := &Manager{samples: newStatsSamples()}
	n := &m.samples.netDev
	for range 3 {
		if _, err := n.read("pod", os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.open(); got != 1 {
		t.Fatalf("%d files kept after 3 reads of one pod, want 1", got)
	}
	if _, err := n.read("pod", os.Getppid()); err != nil {
		t.Fatal(err)
	}
	if n.open() != 1 || n.fds["pod"].pid != os.Getppid() || openNetDev(t) != 1 {
		t.Fatalf("a new pause pid did not replace the kept file: %+v, %d open", n.fds, openNetDev(t))
	}
	m.forgetSamples("pod")
	if n.open() != 0 || openNetDev(t) != 0 {
		t.Fatal("forgetting the pod kept its file")
	}
	if _, err := n.read("other", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	n.keep(map[string]bool{"pod": true})
	if n.open() != 0 {
		t.Fatal("a pass that found the pod not ready kept its file")
	}
	if _, err := n.read("gone", 1<<22); err == nil || n.open() != 0 {
		t.Fatalf("a pid that does not exist: %v, %d kept", err, n.open())
	}
}

// openNetDev counts this process's open net/dev files.
func openNetDev(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasSuffix(l, "/net/dev") {
			c++
		}
	}
	return c
}
