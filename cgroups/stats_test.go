package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestV2Stats reads every figure crid reports from a fake unified cgroup
// written as the kernel writes it, PSI and io.stat included.
func TestV2Stats(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, nil, "c")
	files := map[string]string{
		"cpu.stat":            "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 500\n",
		"cpu.pressure":        "some avg10=1.50 avg60=0.75 avg300=0.25 total=12345\nfull avg10=0.50 avg60=0.00 avg300=0.00 total=678\n",
		"memory.stat":         "anon 4096\nfile 8192\nkernel_stack 16\nslab 32\nfile_mapped 64\ninactive_file 2048\npgfault 7\npgmajfault 3\n",
		"memory.current":      "16384\n",
		"memory.max":          "max\n",
		"memory.peak":         "20000\n",
		"memory.events":       "low 0\nhigh 0\nmax 5\noom 1\noom_kill 2\n",
		"memory.pressure":     "some avg10=0.00 avg60=0.00 avg300=0.00 total=9\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=8\n",
		"memory.swap.current": "1024\n",
		"pids.current":        "3\n",
		"pids.max":            "100\n",
		"io.stat":             "8:0 rbytes=1000 wbytes=2000 rios=10 wios=20 dbytes=0 dios=0\n",
		"io.pressure":         "some avg10=0.10 avg60=0.20 avg300=0.30 total=44\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=22\n",
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(tree.Root, "c", f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := tree.Load("/c")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	s.Timestamp = s.Timestamp.Truncate(0)
	want := &Stats{
		Timestamp:     s.Timestamp,
		CPUUsageNanos: 3e6, CPUUserNanos: 2e6, CPUSystemNanos: 1e6,
		CPUPeriods: 10, CPUThrottledPeriods: 4, CPUThrottledNanos: 5e5,
		MemoryWorkingSet: 16384 - 2048, MemoryUsage: 16384, MemoryRSS: 4096, MemoryCache: 8192,
		MemoryMappedFile: 64, MemoryKernel: 48, MemoryMaxUsage: 20000, MemoryFailcnt: 5, MemorySwap: 1024,
		PageFaults: 7, MajorPageFaults: 3, OOMEvents: 2, Pids: 3, PidsLimit: 100,
		IO: []IODevice{{Major: 8, Minor: 0, ReadBytes: 1000, WriteBytes: 2000, Reads: 10, Writes: 20}},
		CPUPressure: &Pressure{
			Some: &PressureLine{Avg10: 1.5, Avg60: 0.75, Avg300: 0.25, TotalMicros: 12345},
			Full: &PressureLine{Avg10: 0.5, TotalMicros: 678},
		},
		MemoryPressure: &Pressure{Some: &PressureLine{TotalMicros: 9}, Full: &PressureLine{TotalMicros: 8}},
		IOPressure: &Pressure{
			Some: &PressureLine{Avg10: 0.1, Avg60: 0.2, Avg300: 0.3, TotalMicros: 44},
			Full: &PressureLine{TotalMicros: 22},
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Stats =\n%+v\nwant\n%+v", *s, *want)
	}
}

// TestV2StatsWithoutPSI: a kernel without PSI leaves the pressure figures
// nil rather than zero (zero would claim "no pressure").
func TestV2StatsWithoutPSI(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, nil, "c")
	if err := os.WriteFile(filepath.Join(tree.Root, "c", "cpu.stat"), []byte("usage_usec 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := tree.Load("/c")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUPressure != nil || s.MemoryPressure != nil || s.IOPressure != nil {
		t.Fatalf("pressure without *.pressure files: %+v %+v %+v", s.CPUPressure, s.MemoryPressure, s.IOPressure)
	}
}
