package sandbox_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/crid-dev/crid/sandbox"
)

// gathered returns the value of metric name with the given label pairs from g (0 if absent).
func gathered(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func waitExited(t *testing.T, m *sandbox.Manager, id string) {
	t.Helper()
	waitUntil(t, "the exit of "+id, func() bool {
		c, _ := m.Container(id)
		return c.State == sandbox.ContainerExited
	})
}

// TestOperatorMetrics: pods and containers by state, OOM kills (only OOM exits count),
// monitors lost while running and monitors reconnected at a restart.
// Not parallel: the counters are process-wide (prometheus.DefaultGatherer) and checked as
// deltas, so another test's manager restarting or losing a monitor meanwhile counted here
// ("monitors reconnected 2, want 1" in a make test run). A test without t.Parallel runs
// before the parallel ones are released.
func TestOperatorMetrics(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.m.StateCollector())
	def := prometheus.DefaultGatherer
	oom0 := gathered(t, def, "crid_container_oom_kills_total")
	lost0 := gathered(t, def, "crid_pod_monitors_lost_total", "when", "running")
	reconn0 := gathered(t, def, "crid_pod_monitors_reconnected_total")

	pod := h.runPod("web")
	a := h.createStarted(pod, "a")
	b := h.createStarted(pod, "b")
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)
	if got := gathered(t, reg, "crid_containers", "state", "RUNNING"); got != 2 {
		t.Errorf("running containers %v, want 2", got)
	}
	if got := gathered(t, reg, "crid_pods", "state", "READY"); got != 1 {
		t.Errorf("ready pods %v, want 1", got)
	}
	mon.Exit(a, 1, false)
	waitExited(t, h.m, a)
	mon.Exit(b, 137, true)
	waitExited(t, h.m, b)
	if got := gathered(t, def, "crid_container_oom_kills_total") - oom0; got != 1 {
		t.Errorf("OOM kills counted %v, want 1 (one OOM exit, one plain exit)", got)
	}
	if got := gathered(t, reg, "crid_containers", "state", "EXITED"); got != 2 {
		t.Errorf("exited containers %v, want 2", got)
	}
	if got := gathered(t, reg, "crid_containers", "state", "RUNNING"); got != 0 {
		t.Errorf("running containers %v, want 0", got)
	}

	// Restart: the live monitor is reconnected.
	reg.Unregister(h.m.StateCollector())
	h.restart()
	if got := gathered(t, def, "crid_pod_monitors_reconnected_total") - reconn0; got != 1 {
		t.Errorf("monitors reconnected %v, want 1", got)
	}

	// The monitor dies while crid runs: counted once, the pod goes NOTREADY.
	p, _ = h.m.Pod(pod)
	h.env.Runtime.Monitor(p.Dir).Crash()
	waitUntil(t, "the monitor loss to unready the pod", func() bool {
		q, _ := h.m.Pod(pod)
		return q.State == sandbox.PodNotReady
	})
	if got := gathered(t, def, "crid_pod_monitors_lost_total", "when", "running") - lost0; got != 1 {
		t.Errorf("monitors lost %v, want 1", got)
	}
	reg = prometheus.NewRegistry()
	reg.MustRegister(h.m.StateCollector())
	if got := gathered(t, reg, "crid_pods", "state", "NOTREADY"); got != 1 {
		t.Errorf("not-ready pods %v, want 1", got)
	}
}
