package cri

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// podStatsOfShapes is a node's stats in every shape a conversion meets: running and
// stopped containers, with and without a writable-layer sample, a CPU rate, a memory
// limit, pressure; pods with several interfaces (eth0 not first), one, none, and none of
// their containers.
func podStatsOfShapes(pods int) []*sandbox.PodStats {
	at := time.Unix(1700000000, 123)
	var out []*sandbox.PodStats
	for i := range pods {
		p := &sandbox.Pod{ID: fmt.Sprintf("pod%02d", i), Config: &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: fmt.Sprint("p", i), Namespace: "ns", Uid: fmt.Sprint("u", i)},
			Labels:   map[string]string{"app": fmt.Sprint(i)}, Annotations: map[string]string{"a": "b"},
		}}
		nano := uint64(i * 1000)
		ps := &sandbox.PodStats{Pod: p, Timestamp: at, CPUNanos: uint64(i) * 7, Memory: sandbox.CgroupStats{
			MemoryUsage: 10, MemoryWorkingSet: 5, MemoryRSS: 3, PageFaults: 2, MajorPageFaults: 1, Pids: uint64(i)}}
		if i%2 == 0 {
			ps.NanoCores = &nano
			ps.CPUPressure = &sandbox.Pressure{Some: &sandbox.PressureLine{Avg10: 1, TotalMicros: 9}}
		}
		switch i % 3 {
		case 0:
			ps.Network = []sandbox.NetStats{{Name: "lo0", RxBytes: 1}, {Name: "eth0", RxBytes: 2, TxBytes: 3, RxErrors: 4, TxErrors: 5}}
		case 1:
			ps.Network = []sandbox.NetStats{{Name: "net1", TxBytes: 6}}
		}
		for j := range i % 4 { // 0 to 3 containers
			c := &sandbox.Container{ID: fmt.Sprintf("c%02d-%d", i, j), PodID: p.ID, Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: fmt.Sprint("c", j), Attempt: uint32(j)},
				Labels:   map[string]string{"c": fmt.Sprint(j)},
			}}
			cs := &sandbox.ContainerStats{Container: c, Timestamp: at.Add(time.Duration(j))}
			if j != 1 { // the second container is not running: no cgroup figures
				cs.Cgroup = &sandbox.CgroupStats{CPUUsageNanos: uint64(j + 1), MemoryUsage: 100, MemoryWorkingSet: 60,
					MemoryRSS: 40, PageFaults: 9, MajorPageFaults: 8, MemorySwap: 7}
				if j == 2 {
					cs.Cgroup.MemoryLimit = 1000
					cs.Cgroup.IOPressure = &sandbox.Pressure{Full: &sandbox.PressureLine{TotalMicros: 3}}
					cs.NanoCores = &nano
				}
			}
			if j != 2 {
				cs.Fs, cs.FsTimestamp = &sandbox.FsUsage{Mountpoint: "/var/lib/x/" + c.ID, UsedBytes: 4096, InodesUsed: 3}, at
			}
			ps.Containers = append(ps.Containers, cs)
		}
		out = append(out, ps)
	}
	return out
}

// The messages built from an arena are the ones built one by one (the conversion as it was
// before the arena), for every shape, also when the arena was sized too small.
func TestStatsArenaBuildsTheSameMessages(t *testing.T) {
	all := podStatsOfShapes(24)
	for _, a := range []*statsArena{newStatsArena(all, nil), newStatsArena(nil, nil), newStatsArena(all[:1], all[2].Containers)} {
		var got []*runtimeapi.PodSandboxStats
		for _, ps := range all {
			got = append(got, a.podStats(ps))
		}
		for i, ps := range all {
			if want := refPodStats(ps); !proto.Equal(got[i], want) {
				t.Fatalf("pod %d:\n got %v\nwant %v", i, got[i], want)
			}
			for j, cs := range ps.Containers {
				if got, want := a.containerStats(cs), refContainerStats(cs); !proto.Equal(got, want) {
					t.Fatalf("pod %d container %d:\n got %v\nwant %v", i, j, got, want)
				}
			}
		}
		// No message is shared: changing one answer's figures changes no other's.
		got[0].Linux.Cpu.UsageCoreNanoSeconds.Value = 12345
		got[3].Linux.Containers[0].Memory.UsageBytes.Value = 12345
		for i := range got {
			if want := refPodStats(all[i]); i != 0 && i != 3 && !proto.Equal(got[i], want) {
				t.Fatalf("pod %d changed with another: %v", i, got[i])
			}
		}
	}
}

// A node-wide answer costs a handful of allocations, not one per message (4198 for these
// 100 pods message by message): the arena and its slices, and per pod its Interfaces list;
// the pressure messages, rare on a node (none on cgroup v1), are still allocated one by one.
func TestStatsArenaAllocatesPerAnswerNotPerMessage(t *testing.T) {
	all := podStatsOfShapes(100)
	want := 16 // the arena and its 15 slices
	for _, ps := range all {
		if len(ps.Network) > 0 {
			want++
		}
		if ps.CPUPressure != nil {
			want += 2 // PsiStats, its Some
		}
		for _, cs := range ps.Containers {
			if cs.Cgroup != nil && cs.Cgroup.IOPressure != nil {
				want += 3 // IoUsage, PsiStats, its Full
			}
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		a := newStatsArena(all, nil)
		for _, ps := range all {
			a.podStats(ps)
		}
	})
	if allocs > float64(want) {
		t.Errorf("%v allocations for 100 pods' stats, want at most %d", allocs, want)
	}
	// And no more bytes than message by message, but for large slices' rounding to whole
	// pages: the slices are sized to the messages, and every byte allocated brings the next
	// garbage collection nearer.
	bytes := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			f()
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / 10
	}
	arena := bytes(func() {
		a := newStatsArena(all, nil)
		for _, ps := range all {
			a.podStats(ps)
		}
	})
	ref := bytes(func() {
		for _, ps := range all {
			refPodStats(ps)
		}
	})
	if float64(arena) > 1.05*float64(ref) {
		t.Errorf("%d bytes for 100 pods' stats from the arena, %d message by message", arena, ref)
	}
	t.Logf("100 pods' stats: %v allocations, %d bytes (message by message: %d bytes)", allocs, arena, ref)
}

// refPodStats and refContainerStats are the conversions as they were, message by message.
func refPodStats(ps *sandbox.PodStats) *runtimeapi.PodSandboxStats {
	p := ps.Pod
	ts := ps.Timestamp.UnixNano()
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu:     &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(ps.CPUNanos), Psi: psi(ps.CPUPressure)},
		Memory:  refMemoryUsage(ts, &ps.Memory),
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
			if n.Name == "eth0" || (i == 0 && linux.Network.DefaultInterface == nil) {
				linux.Network.DefaultInterface = iface
			}
			linux.Network.Interfaces = append(linux.Network.Interfaces, iface)
		}
	}
	for _, cs := range ps.Containers {
		linux.Containers = append(linux.Containers, refContainerStats(cs))
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id: p.ID, Metadata: p.Config.GetMetadata(), Labels: p.Config.GetLabels(), Annotations: p.Config.GetAnnotations(),
		},
		Linux: linux,
	}
}

func refContainerStats(cs *sandbox.ContainerStats) *runtimeapi.ContainerStats {
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
		out.Memory = refMemoryUsage(ts, st)
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

func refMemoryUsage(ts int64, st *sandbox.CgroupStats) *runtimeapi.MemoryUsage {
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
