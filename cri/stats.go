package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

func (a *statsArena) u64v(v uint64) *runtimeapi.UInt64Value {
	w := take(&a.u64)
	w.Value = v
	return w
}

func (a *statsArena) containerStats(cs *sandbox.ContainerStats) *runtimeapi.ContainerStats {
	c := cs.Container
	ts := cs.Timestamp.UnixNano()
	out, attrs := take(&a.ctrs), take(&a.cattrs)
	attrs.Id, attrs.Metadata, attrs.Labels, attrs.Annotations = c.ID, c.Config.GetMetadata(), c.Config.GetLabels(), c.Config.GetAnnotations()
	out.Attributes = attrs
	if st := cs.Cgroup; st != nil {
		cpu := take(&a.cpu)
		cpu.Timestamp, cpu.UsageCoreNanoSeconds, cpu.Psi = ts, a.u64v(st.CPUUsageNanos), psi(st.CPUPressure)
		if cs.NanoCores != nil {
			cpu.UsageNanoCores = a.u64v(*cs.NanoCores)
		}
		out.Cpu = cpu
		out.Memory = a.memoryUsage(ts, st)
		swap := take(&a.swap)
		swap.Timestamp, swap.SwapUsageBytes = ts, a.u64v(st.MemorySwap)
		out.Swap = swap
		if st.IOPressure != nil {
			out.Io = &runtimeapi.IoUsage{Timestamp: ts, Psi: psi(st.IOPressure)}
		}
	}
	if fs := cs.Fs; fs != nil {
		wl, id := take(&a.fs), take(&a.fsID)
		id.Mountpoint = fs.Mountpoint
		wl.Timestamp, wl.FsId, wl.UsedBytes, wl.InodesUsed = cs.FsTimestamp.UnixNano(), id, a.u64v(fs.UsedBytes), a.u64v(fs.InodesUsed)
		out.WritableLayer = wl
	}
	return out
}

func (a *statsArena) memoryUsage(ts int64, st *sandbox.CgroupStats) *runtimeapi.MemoryUsage {
	m := take(&a.mem)
	m.Timestamp, m.WorkingSetBytes, m.UsageBytes = ts, a.u64v(st.MemoryWorkingSet), a.u64v(st.MemoryUsage)
	m.RssBytes, m.PageFaults, m.MajorPageFaults = a.u64v(st.MemoryRSS), a.u64v(st.PageFaults), a.u64v(st.MajorPageFaults)
	m.Psi = psi(st.MemoryPressure)
	if st.MemoryLimit > 0 && st.MemoryLimit > st.MemoryWorkingSet {
		m.AvailableBytes = a.u64v(st.MemoryLimit - st.MemoryWorkingSet)
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

func (a *statsArena) podStats(ps *sandbox.PodStats) *runtimeapi.PodSandboxStats {
	p := ps.Pod
	ts := ps.Timestamp.UnixNano()
	linux, cpu, proc := take(&a.linux), take(&a.cpu), take(&a.procs)
	cpu.Timestamp, cpu.UsageCoreNanoSeconds, cpu.Psi = ts, a.u64v(ps.CPUNanos), psi(ps.CPUPressure)
	if ps.NanoCores != nil {
		cpu.UsageNanoCores = a.u64v(*ps.NanoCores)
	}
	proc.Timestamp, proc.ProcessCount = ts, a.u64v(ps.Memory.Pids)
	linux.Cpu, linux.Memory, linux.Process = cpu, a.memoryUsage(ts, &ps.Memory), proc
	linux.Memory.Psi = psi(ps.MemoryPressure)
	if ps.IOPressure != nil {
		linux.Io = &runtimeapi.IoUsage{Timestamp: ts, Psi: psi(ps.IOPressure)}
	}
	if len(ps.Network) > 0 {
		net := take(&a.net)
		net.Timestamp = ts
		net.Interfaces = make([]*runtimeapi.NetworkInterfaceUsage, 0, len(ps.Network))
		for i, n := range ps.Network {
			iface := take(&a.ifs)
			iface.Name, iface.RxBytes, iface.RxErrors = n.Name, a.u64v(n.RxBytes), a.u64v(n.RxErrors)
			iface.TxBytes, iface.TxErrors = a.u64v(n.TxBytes), a.u64v(n.TxErrors)
			// eth0 is what CNI names the pod's interface; else the first one.
			if n.Name == "eth0" || (i == 0 && net.DefaultInterface == nil) {
				net.DefaultInterface = iface
			}
			net.Interfaces = append(net.Interfaces, iface)
		}
		linux.Network = net
	}
	if n := len(ps.Containers); n > 0 {
		if len(a.ctrPtr)+n > cap(a.ctrPtr) {
			a.ctrPtr = make([]*runtimeapi.ContainerStats, 0, max(n, cap(a.ctrPtr)))
		}
		lo := len(a.ctrPtr)
		for _, cs := range ps.Containers {
			a.ctrPtr = append(a.ctrPtr, a.containerStats(cs))
		}
		linux.Containers = a.ctrPtr[lo:len(a.ctrPtr):len(a.ctrPtr)] // full: an append by kubelet's side never reaches the next pod's
	}
	out, attrs := take(&a.pods), take(&a.pattrs)
	attrs.Id, attrs.Metadata, attrs.Labels, attrs.Annotations = p.ID, p.Config.GetMetadata(), p.Config.GetLabels(), p.Config.GetAnnotations()
	out.Attributes, out.Linux = attrs, linux
	return out
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
	return &runtimeapi.ContainerStatsResponse{Stats: newStatsArena(nil, []*sandbox.ContainerStats{cs}).containerStats(cs)}, nil
}

// ListContainerStats reports the usage of the selected containers.
func (s *Server) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	all := s.Sandbox.ListContainerStats(ctx, statsFilter(req.GetFilter()))
	a := newStatsArena(nil, all)
	resp := &runtimeapi.ListContainerStatsResponse{Stats: make([]*runtimeapi.ContainerStats, 0, len(all))}
	for _, cs := range all {
		resp.Stats = append(resp.Stats, a.containerStats(cs))
	}
	return resp, nil
}

// StreamContainerStats is ListContainerStats in chunks.
func (s *Server) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream runtimeapi.RuntimeService_StreamContainerStatsServer) error {
	all := s.Sandbox.ListContainerStats(stream.Context(), statsFilter(req.GetFilter()))
	return sendChunks(len(all), func(lo, hi int) error {
		a := newStatsArena(nil, all[lo:hi])
		resp := &runtimeapi.StreamContainerStatsResponse{}
		for _, cs := range all[lo:hi] {
			resp.ContainerStats = append(resp.ContainerStats, a.containerStats(cs))
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
	return &runtimeapi.PodSandboxStatsResponse{Stats: newStatsArena([]*sandbox.PodStats{ps}, nil).podStats(ps)}, nil
}

// ListPodSandboxStats reports the usage of the selected pods.
func (s *Server) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	all := s.Sandbox.ListPodStats(ctx, podStatsFilter(req.GetFilter()))
	a := newStatsArena(all, nil)
	resp := &runtimeapi.ListPodSandboxStatsResponse{Stats: make([]*runtimeapi.PodSandboxStats, 0, len(all))}
	for _, ps := range all {
		resp.Stats = append(resp.Stats, a.podStats(ps))
	}
	return resp, nil
}

// StreamPodSandboxStats is ListPodSandboxStats in chunks.
func (s *Server) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream runtimeapi.RuntimeService_StreamPodSandboxStatsServer) error {
	all := s.Sandbox.ListPodStats(stream.Context(), podStatsFilter(req.GetFilter()))
	return sendChunks(len(all), func(lo, hi int) error {
		a := newStatsArena(all[lo:hi], nil)
		resp := &runtimeapi.StreamPodSandboxStatsResponse{}
		for _, ps := range all[lo:hi] {
			resp.PodSandboxStats = append(resp.PodSandboxStats, a.podStats(ps))
		}
		return stream.Send(resp)
	})
}
