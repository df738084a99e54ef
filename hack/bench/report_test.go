package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5.5}, {0, 1}, {100, 10}, {95, 9.55}, {99, 9.91}} {
		if got := percentile(v, c.p); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]float64{7}, 99); got != 7 {
		t.Errorf("p99 of one sample = %v, want 7", got)
	}
}

func TestResultAdd(t *testing.T) {
	r := &Result{Latency: map[string]*Stats{}}
	for _, ms := range []int{30, 10, 20} {
		r.add("op", time.Duration(ms)*time.Millisecond)
	}
	s := r.Latency["op"]
	if s.N != 3 || s.Median != 20 || s.Min != 10 || s.Max != 30 || len(r.Order) != 1 {
		t.Errorf("stats %+v order %v", s, r.Order)
	}
	var nilResult *Result
	nilResult.add("op", time.Millisecond) // untimed runs pass nil
}

func TestGoalsJudgeCridAgainstTheReference(t *testing.T) {
	stats := func(ms float64) *Stats { s := &Stats{Samples: []float64{ms}}; s.summarise(); return s }
	crid := &Result{Runtime: "crid 0.1", Latency: map[string]*Stats{
		"pod start (run+create+start)":   stats(30),
		"ListContainerStats (110 pods)":  stats(25),
		"ListPodSandboxStats (110 pods)": stats(10),
		"ContainerStats (110 pods)":      stats(0.5),
	}, Pull: &PullResult{MBPerSecond: 100}, Memory: MemResult{Pods: 110}}
	ctrd := &Result{Runtime: "containerd v2.4.2", Latency: map[string]*Stats{
		"pod start (run+create+start)": stats(100),
	}, Pull: &PullResult{MBPerSecond: 80}, Memory: MemResult{Pods: 110}}
	var b strings.Builder
	printGoals(&b, []*Result{ctrd, crid}) // crid is found by name, not by position
	out := b.String()
	for _, want := range []string{
		"crid 0.1  containerd v2.4.2", // crid's column first
		"0.30x ok",                    // pod start 30/100 meets <= 0.3x
		"1.25x MISSED",                // pull 100/80 misses >= 1.5x
		"ListContainerStats p99  25.0 ms  -  <= 20 ms  MISSED",
		"ListPodSandboxStats p99  10.0 ms  -  <= 20 ms  ok",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("goals table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printGoals(&b, []*Result{crid})
	if !strings.Contains(b.String(), "no reference") {
		t.Errorf("a ratio without a reference runtime must say so:\n%s", b.String())
	}
}
