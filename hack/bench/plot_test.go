package main

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeResult(runtime string, scale float64, density bool) *Result {
	r := &Result{Runtime: runtime, Latency: map[string]*Stats{}}
	for i := 1; i <= 20; i++ {
		r.add("RunPodSandbox", time.Duration(scale*float64(i)*float64(time.Millisecond)))
		r.add("ListContainerStats (110 pods)", time.Duration(scale*float64(i)*float64(100*time.Microsecond)))
	}
	if density {
		r.Density = &DensityResult{Pods: 50, Curve: []MemPoint{
			{Pods: 0, Daemon: Mem{PssKB: 20 << 10}},
			{Pods: 25, Daemon: Mem{PssKB: 25 << 10}, Helpers: Mem{PssKB: 50 << 10}},
			{Pods: 50, Daemon: Mem{PssKB: 30 << 10}, Helpers: Mem{PssKB: 100 << 10}},
		}}
	} else {
		r.Memory = MemResult{Pods: 30, Idle: Mem{PssKB: 40 << 10}, WithPods: Mem{PssKB: 60 << 10}, Shims: Mem{PssKB: 150 << 10}}
	}
	return r
}

// elements parses an SVG and counts its elements by name (failing on malformed XML).
func elements(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	d := xml.NewDecoder(f)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			n[se.Name.Local]++
		}
	}
}

// TestPlots: one box per operation and runtime, one solid and one dashed memory line per
// runtime, whether its memory came from the density curve or the default mode's two points;
// the charts are well-formed SVG and the same after a round trip through --json.
func TestPlots(t *testing.T) {
	dir := t.TempDir()
	rs := []*Result{fakeResult("crid dev", 1, true), fakeResult("containerd v2.4.2", 3, false)}
	files, err := writePlots(dir, rs)
	if err != nil || len(files) != 2 {
		t.Fatalf("%v %v", files, err)
	}
	lat := elements(t, filepath.Join(dir, "latency.svg"))
	if lat["rect"] < 2*2 || lat["circle"] != 2*2 {
		t.Errorf("latency.svg: %v, want a box and a p99 dot for each of 2 operations x 2 runtimes", lat)
	}
	mem := elements(t, filepath.Join(dir, "memory.svg"))
	if mem["polyline"] != 2*2 || mem["circle"] != 3+2 {
		t.Errorf("memory.svg: %v, want 2 lines per runtime and a dot per point (3 + 2)", mem)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "latency.svg"))
	for _, want := range []string{"crid dev", "containerd v2.4.2", "ListContainerStats (110 pods)"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("latency.svg does not name %q", want)
		}
	}
}

func TestNamesAny(t *testing.T) {
	id := strings.Repeat("ab12", 16)
	ids := map[string]bool{id: true}
	for s, want := range map[string]bool{
		"/run/crid/pods/" + id + "/netns":        true,
		"x" + id:                                 true,
		id[:63]:                                  false,
		"/sys/fs/cgroup/memory/crid/" + "f" + id: true, // the id ends the 65-hex run
		strings.Repeat("cd34", 20):               false,
	} {
		if got := namesAny(s, ids); got != want {
			t.Errorf("namesAny(%q) = %v, want %v", s, got, want)
		}
	}
}
