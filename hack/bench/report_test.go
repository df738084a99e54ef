package main

import (
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
