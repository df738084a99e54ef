package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/internal/testenv"
)

// v2UsageFiles are a unified cgroup's files as the kernel writes them.
var v2UsageFiles = map[string]string{
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

// usageFields keeps the figures Usage promises, zeroing the rest.
func usageFields(s *Stats) Stats {
	return Stats{
		CPUUsageNanos: s.CPUUsageNanos, CPUUserNanos: s.CPUUserNanos, CPUSystemNanos: s.CPUSystemNanos,
		MemoryUsage: s.MemoryUsage, MemoryLimit: s.MemoryLimit, MemoryWorkingSet: s.MemoryWorkingSet,
		MemoryRSS: s.MemoryRSS, MemoryCache: s.MemoryCache, MemoryMappedFile: s.MemoryMappedFile,
		PageFaults: s.PageFaults, MajorPageFaults: s.MajorPageFaults, MemorySwap: s.MemorySwap, Pids: s.Pids,
		CPUPressure: s.CPUPressure, MemoryPressure: s.MemoryPressure, IOPressure: s.IOPressure,
	}
}

// TestV2UsageMatchesStats: the direct reader gives the figures the library's full read
// gives, on the same unified cgroup, and nothing else.
func TestV2UsageMatchesStats(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, nil, "c")
	for f, v := range v2UsageFiles {
		if err := os.WriteFile(filepath.Join(tree.Root, "c", f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := tree.Load("/c")
	if err != nil {
		t.Fatal(err)
	}
	full, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var got Stats
	if err := tree.Usage("/c", &got); err != nil {
		t.Fatal(err)
	}
	if got.Timestamp.IsZero() {
		t.Error("no timestamp")
	}
	got.Timestamp = got.Timestamp.Truncate(0)
	want := usageFields(full)
	want.Timestamp = got.Timestamp
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Usage =\n%+v\nwant\n%+v", got, want)
	}
	if got.MemoryLimit != 0 || got.CPUPressure == nil || got.CPUPressure.Full.Avg10 != 0.5 {
		t.Fatalf("limit %d (want 0: max), cpu pressure %+v", got.MemoryLimit, got.CPUPressure)
	}
}

// TestV2UsageOptionalFiles: only cpu.stat is required; a cgroup without the memory or
// pids controller or PSI reads as zeros and nil pressure, not as an error.
func TestV2UsageOptionalFiles(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, nil, "c")
	if err := os.WriteFile(filepath.Join(tree.Root, "c", "cpu.stat"), []byte("usage_usec 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var s Stats
	if err := tree.Usage("/c", &s); err != nil {
		t.Fatal(err)
	}
	if s.CPUUsageNanos != 7000 || s.MemoryUsage != 0 || s.CPUPressure != nil || s.MemoryPressure != nil || s.IOPressure != nil {
		t.Fatalf("%+v", s)
	}
	if err := tree.Usage("/gone", &s); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing cgroup: %v, want ErrNotExist", err)
	}
}

// TestV1Usage reads a v1 hierarchy's files as the kernel writes them (memsw above the
// usage by the swap in use).
// v1UsageFiles: a v1 tree with a cgroup /k/c and /k/other (no pids, no memsw).
var v1UsageFiles = map[string]string{
	"cpuacct/k/c/cpuacct.usage":              "123456789\n",
	"cpuacct/k/c/cpuacct.stat":               "user 12\nsystem 3\n",
	"memory/k/c/memory.usage_in_bytes":       "10485760\n",
	"memory/k/c/memory.limit_in_bytes":       "9223372036854771712\n",
	"memory/k/c/memory.memsw.usage_in_bytes": "10489856\n",
	"memory/k/c/memory.stat":                 "cache 1\nrss 2\nrss_huge 0\nhierarchical_memory_limit 9223372036854771712\ntotal_cache 4096\ntotal_rss 8192\ntotal_mapped_file 512\ntotal_pgfault 100\ntotal_pgmajfault 5\ntotal_inactive_file 1048576\n",
	"pids/k/c/pids.current":                  "4\n",
	"memory/k/other/memory.usage_in_bytes":   "1\n",
	"memory/k/other/memory.limit_in_bytes":   "1048576\n",
	"memory/k/other/memory.stat":             "",
	"cpuacct/k/other/cpuacct.usage":          "1\n",
	"memory/k/other/memory.oom_control":      "oom_kill 0\n",
}

// v1Tree writes v1UsageFiles under a temp root.
func v1Tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for f, v := range v1UsageFiles {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestV1Usage(t *testing.T) {
	t.Parallel()
	root := v1Tree(t)
	tree := Tree{Root: root}
	var s Stats
	if err := tree.Usage("/k/c", &s); err != nil {
		t.Fatal(err)
	}
	s.Timestamp = s.Timestamp.Truncate(0)
	want := Stats{
		Timestamp:     s.Timestamp,
		CPUUsageNanos: 123456789,
		MemoryUsage:   10485760, MemoryWorkingSet: 10485760 - 1048576, MemoryRSS: 8192, MemoryCache: 4096,
		MemoryMappedFile: 512, PageFaults: 100, MajorPageFaults: 5, MemorySwap: 4096, Pids: 4,
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Usage =\n%+v\nwant\n%+v", s, want)
	}
	// No pids, no memsw: zeros; the limit is read.
	if err := tree.Usage("/k/other", &s); err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != 1048576 || s.Pids != 0 || s.MemorySwap != 0 || s.CPUUsageNanos != 1 {
		t.Fatalf("%+v", s)
	}
	if err := tree.Usage("/k/gone", &s); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing cgroup: %v, want ErrNotExist", err)
	}
	// Through kept files: the same figures, missing optional files included.
	r := tree.NewUsageReader()
	defer r.Close()
	for _, c := range []string{"/k/c", "/k/other"} {
		var want, got Stats
		if err := tree.Usage(c, &want); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := r.Usage(c, &got); err != nil {
				t.Fatal(err)
			}
		}
		got.Timestamp = want.Timestamp
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s through the reader:\n%+v\nUsage:\n%+v", c, got, want)
		}
	}
	if err := r.Usage("/k/gone", &s); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing cgroup through the reader: %v, want ErrNotExist", err)
	}
}

// TestUsageReaderAllocations: a stats pass reads every running container's cgroup; once
// its files are open, a read allocates nothing on v1 and only the parsed pressure figures
// on v2 (3 *Pressure and their 6 lines). Not parallel: AllocsPerRun.
func TestUsageReaderAllocations(t *testing.T) {
	v1 := Tree{Root: v1Tree(t)}.NewUsageReader()
	defer v1.Close()
	var s Stats
	if n := testing.AllocsPerRun(50, func() { _ = v1.Usage("/k/c", &s) }); n != 0 {
		t.Errorf("v1: %.0f allocations per read, want 0", n)
	}
	tree := fakeUnified(t, nil, "c")
	writeFiles(t, filepath.Join(tree.Root, "c"), v2UsageFiles)
	v2 := tree.NewUsageReader()
	defer v2.Close()
	if n := testing.AllocsPerRun(50, func() { _ = v2.Usage("/c", &s) }); n > 9 {
		t.Errorf("v2: %.0f allocations per read, want 9 (the pressure figures)", n)
	}
}

func TestParsePercent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"0.00": 0, "1.50": 1.5, "12.05": 12.05, "100.00": 100, "3": 3} {
		if got := parsePercent([]byte(in)); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("parsePercent(%q) = %v, want %v", in, got, want)
		}
	}
}

// BenchmarkUsage compares the direct reader with the library's full read on one v2
// cgroup (a fake tree: the parsing and allocations, not the kernel's file generation).
// v2Cgroup makes a temp tree with one cgroup /c holding v2UsageFiles.
func v2Cgroup(b *testing.B) string {
	root := b.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "c"), 0o755); err != nil {
		b.Fatal(err)
	}
	for f, v := range v2UsageFiles {
		if err := os.WriteFile(filepath.Join(root, "c", f), []byte(v), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

func BenchmarkUsage(b *testing.B) {
	tree := Tree{Root: v2Cgroup(b), Unified: true}
	b.Run("Usage", func(b *testing.B) {
		b.ReportAllocs()
		var s Stats
		for b.Loop() {
			if err := tree.Usage("/c", &s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Reader", func(b *testing.B) {
		r := tree.NewUsageReader()
		defer r.Close()
		b.ReportAllocs()
		var s Stats
		for b.Loop() {
			if err := r.Usage("/c", &s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LoadStats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := tree.Load("/c")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Stats(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestUsageOnTheHost reads a real cgroup of the host's tree (v1 here, v2 in the VM tier)
// with a process in it: the figures that do not move between two reads (limit, task
// count, CPU time that only grows) agree with the library's full read; a UsageReader
// whose kept files outlive the cgroup reports it gone and keeps nothing.
func TestUsageOnTheHost(t *testing.T) {
	if !testenv.Privileged() {
		t.Skip("integration test: needs root")
	}
	tree := HostTree()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	path := "/crid-test-usage-" + hex.EncodeToString(b)
	sleep := exec.Command("sleep", "1000")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	mem, pids := int64(64<<20), int64(42)
	c, err := tree.New(path, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids}})
	t.Cleanup(func() {
		_ = sleep.Process.Kill()
		_ = sleep.Wait()
		_ = tree.Destroy(path)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	r := tree.NewUsageReader()
	defer r.Close()
	var kept Stats
	if err := r.Usage(path, &kept); err != nil || kept.Pids != 1 {
		t.Fatalf("reader: %d tasks, %v", kept.Pids, err)
	}
	full, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var s Stats
	if err := tree.Usage(path, &s); err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != uint64(mem) || s.MemoryLimit != full.MemoryLimit {
		t.Errorf("memory limit %d, library %d, want %d", s.MemoryLimit, full.MemoryLimit, mem)
	}
	if s.Pids != 1 || full.Pids != 1 {
		t.Errorf("tasks %d, library %d, want 1", s.Pids, full.Pids)
	}
	// The process was charged to its old cgroup before it moved: usage may be 0.
	if s.CPUUsageNanos < full.CPUUsageNanos || s.MemoryWorkingSet > s.MemoryUsage {
		t.Errorf("cpu %d (library %d), memory %d, working set %d", s.CPUUsageNanos, full.CPUUsageNanos, s.MemoryUsage, s.MemoryWorkingSet)
	}
	// The cgroup removed under the reader's open files: not found, and nothing kept.
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	if err := tree.Destroy(path); err != nil {
		t.Fatal(err)
	}
	if err := r.Usage(path, &kept); !errors.Is(err, fs.ErrNotExist) || r.Open() != 0 {
		t.Fatalf("after the cgroup was removed: %v, %d cgroups kept; want ErrNotExist, none", err, r.Open())
	}
}

// BenchmarkPressure: a pod cgroup's pressure (3 files) read by open+read+close against
// preads of the files UsageReader keeps. CGROUP2_DIR names a cgroup on a real cgroup2
// mount to measure the kernel's files instead of the temp dir's.
func BenchmarkPressure(b *testing.B) {
	var root, path string
	if d := os.Getenv("CGROUP2_DIR"); d != "" {
		root, path = filepath.Dir(d), "/"+filepath.Base(d)
	} else {
		root, path = v2Cgroup(b), "/c"
	}
	tree := Tree{Root: root, Unified: true}
	b.Run("Tree", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c, _, _, err := tree.Pressure(path); err != nil || c == nil {
				b.Fatal(c, err)
			}
		}
	})
	b.Run("Reader", func(b *testing.B) {
		r := tree.NewUsageReader()
		defer r.Close()
		b.ReportAllocs()
		for b.Loop() {
			if c, _, _, err := r.Pressure(path); err != nil || c == nil {
				b.Fatal(c, err)
			}
		}
	})
}
