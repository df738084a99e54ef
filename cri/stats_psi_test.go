package cri

import (
	"context"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// TestStatsCarryPSIAndIO: a host that reports pressure stall information gets
// it in the CRI stats messages where cri-api v1 puts it, and as cadvisor's
// container_pressure_* metrics; IO per device becomes container_fs_* metrics.
func TestStatsCarryPSIAndIO(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	line := func(total uint64) *sandbox.PressureLine {
		return &sandbox.PressureLine{Avg10: 1.5, Avg60: 1, Avg300: 0.5, TotalMicros: total}
	}
	r.env.Cgroups.StatsFunc = func(string) (*sandbox.CgroupStats, error) {
		return &sandbox.CgroupStats{
			CPUUsageNanos: 1, MemorySwap: 4096,
			IO:             []sandbox.BlkioDevice{{Major: 8, Minor: 0, ReadBytes: 100, WriteBytes: 200}},
			CPUPressure:    &sandbox.Pressure{Some: line(3e6), Full: line(2e6)},
			MemoryPressure: &sandbox.Pressure{Some: line(5e6)},
			IOPressure:     &sandbox.Pressure{Some: line(7e6), Full: line(6e6)},
		}, nil
	}
	run, err := r.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg("web", r.dir)})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := r.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: run.PodSandboxId, Config: ctrCfg("app")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		t.Fatal(err)
	}
	resp, err := r.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: cr.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.Stats
	if p := st.Cpu.GetPsi(); p.GetSome().GetTotal() != 3e6 || p.GetFull().GetTotal() != 2e6 || p.GetSome().GetAvg10() != 1.5 {
		t.Errorf("cpu psi %v", p)
	}
	if p := st.Memory.GetPsi(); p.GetSome().GetTotal() != 5e6 || p.GetFull() != nil {
		t.Errorf("memory psi %v", p)
	}
	if p := st.GetIo().GetPsi(); p.GetSome().GetTotal() != 7e6 || p.GetFull().GetTotal() != 6e6 || p.GetSome().GetAvg300() != 0.5 {
		t.Errorf("io psi %v", st.GetIo())
	}
	if st.GetSwap().GetSwapUsageBytes().GetValue() != 4096 {
		t.Errorf("swap %v", st.GetSwap())
	}
	pm, err := r.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil || len(pm.PodMetrics) != 1 || len(pm.PodMetrics[0].ContainerMetrics) != 1 {
		t.Fatalf("metrics: %v %v", pm, err)
	}
	got := map[string]uint64{}
	for _, m := range pm.PodMetrics[0].ContainerMetrics[0].Metrics {
		got[m.Name] += m.Value.GetValue()
	}
	for name, want := range map[string]uint64{
		"container_pressure_cpu_waiting_seconds_total":    3,
		"container_pressure_cpu_stalled_seconds_total":    2,
		"container_pressure_memory_waiting_seconds_total": 5,
		"container_pressure_io_waiting_seconds_total":     7,
		"container_pressure_io_stalled_seconds_total":     6,
		"container_fs_reads_bytes_total":                  100,
		"container_fs_writes_bytes_total":                 200,
	} {
		if got[name] != want {
			t.Errorf("%s = %d, want %d", name, got[name], want)
		}
	}
	if _, ok := got["container_pressure_memory_stalled_seconds_total"]; ok {
		t.Error("a memory 'full' line the host did not report became a metric")
	}
}
