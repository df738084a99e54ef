package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

func toContainerStats(cs *sandbox.ContainerStats) *runtimeapi.ContainerStats {
	c := cs.Container
	ts := cs.Timestamp.UnixNano()
	out := &runtimeapi.ContainerStats{Attributes: &runtimeapi.ContainerAttributes{
		Id: c.ID, Metadata: c.Config.GetMetadata(), Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
	}}
	if st := cs.Cgroup; st != nil {
		out.Cpu = &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(st.CPUUsageNanos), Psi: psi(st.CPUPressure)}
		if cs.NanoCores != nil {
			out.Cpu.UsageNanoCores = u64(*cs.NanoCores)
		}
		out.Memory = memoryUsage(ts, st)
		out.Swap = &runtimeapi.SwapUsage{Timestamp: ts, SwapUsageBytes: u64(st.MemorySwap)}
		if st.IOPressure != nil {
			out.Io = &runtimeapi.IoUsage{Timestamp: ts, Psi: psi(st.IOPressure)}
		}
	}
	if fs := cs.Fs; fs != nil {
		out.WritableLayer = &runtimeapi.FilesystemUsage{
			Timestamp: cs.FsTimestamp.UnixNano(), FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: fs.Mountpoint},
			UsedBytes: u64(fs.UsedBytes), InodesUsed: u64(fs.InodesUsed),
		}
	}
	return out
}

func memoryUsage(ts int64, st *sandbox.CgroupStats) *runtimeapi.MemoryUsage {
	m := &runtimeapi.MemoryUsage{
		Timestamp: ts, WorkingSetBytes: u64(st.MemoryWorkingSet), UsageBytes: u64(st.MemoryUsage),
		RssBytes: u64(st.MemoryRSS), PageFaults: u64(st.PageFaults), MajorPageFaults: u64(st.MajorPageFaults),
		Psi: psi(st.MemoryPressure),
	}
	if st.MemoryLimit > 0 && st.MemoryLimit > st.MemoryWorkingSet {
		m.AvailableBytes = u64(st.MemoryLimit - st.MemoryWorkingSet)
	}
	return m
}

// psi maps pressure stall information as cri-api v1 carries it (Total in
// microseconds, averages in percent); nil where the host reports none.
func psi(p *sandbox.Pressure) *runtimeapi.PsiStats {
	if p == nil {
		return nil
	}
	line := func(l *sandbox.PressureLine) *runtimeapi.PsiData {
		if l == nil {
			return nil
		}
		return &runtimeapi.PsiData{Total: l.TotalMicros, Avg10: l.Avg10, Avg60: l.Avg60, Avg300: l.Avg300}
	}
	return &runtimeapi.PsiStats{Some: line(p.Some), Full: line(p.Full)}
}

func toPodStats(ps *sandbox.PodStats) *runtimeapi.PodSandboxStats {
	p := ps.Pod
	ts := ps.Timestamp.UnixNano()
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu:     &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(ps.CPUNanos), Psi: psi(ps.CPUPressure)},
		Memory:  memoryUsage(ts, &ps.Memory),
		Process: &runtimeapi.ProcessUsage{Timestamp: ts, ProcessCount: u64(ps.Memory.Pids)},
	}
	linux.Memory.Psi = psi(ps.MemoryPressure)
	if ps.IOPressure != nil {
		linux.Io = &runtimeapi.IoUsage{Timestamp: ts, Psi: psi(ps.IOPressure)}
	}
	if ps.NanoCores != nil {
		linux.Cpu.UsageNanoCores = u64(*ps.NanoCores)
	}
	if len(ps.Network) > 0 {
		linux.Network = &runtimeapi.NetworkUsage{Timestamp: ts}
		for i, n := range ps.Network {
			iface := &runtimeapi.NetworkInterfaceUsage{
				Name: n.Name, RxBytes: u64(n.RxBytes), RxErrors: u64(n.RxErrors), TxBytes: u64(n.TxBytes), TxErrors: u64(n.TxErrors),
			}
			// eth0 is what CNI names the pod's interface; else the first one.
			if n.Name == "eth0" || (i == 0 && linux.Network.DefaultInterface == nil) {
				linux.Network.DefaultInterface = iface
			}
			linux.Network.Interfaces = append(linux.Network.Interfaces, iface)
		}
	}
	for _, cs := range ps.Containers {
		linux.Containers = append(linux.Containers, toContainerStats(cs))
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id: p.ID, Metadata: p.Config.GetMetadata(), Labels: p.Config.GetLabels(), Annotations: p.Config.GetAnnotations(),
		},
		Linux: linux,
	}
}

func statsFilter(f *runtimeapi.ContainerStatsFilter) sandbox.ContainerFilter {
	return sandbox.ContainerFilter{ID: f.GetId(), PodID: f.GetPodSandboxId(), Labels: f.GetLabelSelector()}
}

func podStatsFilter(f *runtimeapi.PodSandboxStatsFilter) sandbox.PodFilter {
	return sandbox.PodFilter{ID: f.GetId(), Labels: f.GetLabelSelector()}
}

// ContainerStats reports one container's usage.
func (s *Server) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	cs, err := s.Sandbox.ContainerStats(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: toContainerStats(cs)}, nil
}

// ListContainerStats reports the usage of the selected containers.
func (s *Server) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	resp := &runtimeapi.ListContainerStatsResponse{}
	for _, cs := range s.Sandbox.ListContainerStats(ctx, statsFilter(req.GetFilter())) {
		resp.Stats = append(resp.Stats, toContainerStats(cs))
	}
	return resp, nil
}

// StreamContainerStats is ListContainerStats in chunks.
func (s *Server) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream runtimeapi.RuntimeService_StreamContainerStatsServer) error {
	all := s.Sandbox.ListContainerStats(stream.Context(), statsFilter(req.GetFilter()))
	return sendChunks(len(all), func(lo, hi int) error {
		resp := &runtimeapi.StreamContainerStatsResponse{}
		for _, cs := range all[lo:hi] {
			resp.ContainerStats = append(resp.ContainerStats, toContainerStats(cs))
		}
		return stream.Send(resp)
	})
}

// PodSandboxStats reports one pod's usage.
func (s *Server) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	ps, err := s.Sandbox.PodStats(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: toPodStats(ps)}, nil
}

// ListPodSandboxStats reports the usage of the selected pods.
func (s *Server) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	resp := &runtimeapi.ListPodSandboxStatsResponse{}
	for _, ps := range s.Sandbox.ListPodStats(ctx, podStatsFilter(req.GetFilter())) {
		resp.Stats = append(resp.Stats, toPodStats(ps))
	}
	return resp, nil
}

// StreamPodSandboxStats is ListPodSandboxStats in chunks.
func (s *Server) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream runtimeapi.RuntimeService_StreamPodSandboxStatsServer) error {
	all := s.Sandbox.ListPodStats(stream.Context(), podStatsFilter(req.GetFilter()))
	return sendChunks(len(all), func(lo, hi int) error {
		resp := &runtimeapi.StreamPodSandboxStatsResponse{}
		for _, ps := range all[lo:hi] {
			resp.PodSandboxStats = append(resp.PodSandboxStats, toPodStats(ps))
		}
		return stream.Send(resp)
	})
}
