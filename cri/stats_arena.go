package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// statsArena hands out the messages of one stats answer from a few slices sized for it:
// a node-wide answer is about 25 small messages per container, and allocating them one by
// one was a third of the handler's time at 250 pods. Messages are never copied out of the
// slices (a full slice gets a fresh one beside it, the old one stays where its pointers
// are), so they live exactly as long as the answer.
type statsArena struct {
	u64    []runtimeapi.UInt64Value
	ctrs   []runtimeapi.ContainerStats
	cattrs []runtimeapi.ContainerAttributes
	cpu    []runtimeapi.CpuUsage
	mem    []runtimeapi.MemoryUsage
	swap   []runtimeapi.SwapUsage
	fs     []runtimeapi.FilesystemUsage
	fsID   []runtimeapi.FilesystemIdentifier
	pods   []runtimeapi.PodSandboxStats
	pattrs []runtimeapi.PodSandboxAttributes
	linux  []runtimeapi.LinuxPodSandboxStats
	procs  []runtimeapi.ProcessUsage
	net    []runtimeapi.NetworkUsage
	ifs    []runtimeapi.NetworkInterfaceUsage
	ctrPtr []*runtimeapi.ContainerStats // the pods' Containers lists, cut from one slice
}

// newStatsArena sizes the slices for exactly the messages of pods (with their containers)
// and ctrs, as stats.go builds them: a slice too large would be garbage as much as the
// messages are; a count that falls short costs a second slice, nothing else.
func newStatsArena(pods []*sandbox.PodStats, ctrs []*sandbox.ContainerStats) *statsArena {
	var n struct{ u64, ctrs, cpu, mem, swap, fs, pods, net, ifs int }
	memory := func(st *sandbox.CgroupStats) {
		n.mem++
		n.u64 += 5 // working set, usage, RSS, page faults, major page faults
		if st.MemoryLimit > 0 && st.MemoryLimit > st.MemoryWorkingSet {
			n.u64++ // available
		}
	}
	container := func(cs *sandbox.ContainerStats) {
		n.ctrs++
		if st := cs.Cgroup; st != nil {
			n.cpu, n.swap, n.u64 = n.cpu+1, n.swap+1, n.u64+2 // CPU usage, swap
			if cs.NanoCores != nil {
				n.u64++
			}
			memory(st)
		}
		if cs.Fs != nil {
			n.fs, n.u64 = n.fs+1, n.u64+2 // used bytes, inodes
		}
	}
	for _, ps := range pods {
		n.pods, n.cpu, n.u64 = n.pods+1, n.cpu+1, n.u64+2 // CPU usage, process count
		if ps.NanoCores != nil {
			n.u64++
		}
		memory(&ps.Memory)
		if len(ps.Network) > 0 {
			n.net, n.ifs, n.u64 = n.net+1, n.ifs+len(ps.Network), n.u64+4*len(ps.Network)
		}
		for _, cs := range ps.Containers {
			container(cs)
		}
	}
	podCtrs := n.ctrs
	for _, cs := range ctrs {
		container(cs)
	}
	return &statsArena{
		u64:    make([]runtimeapi.UInt64Value, 0, n.u64),
		ctrs:   make([]runtimeapi.ContainerStats, 0, n.ctrs),
		cattrs: make([]runtimeapi.ContainerAttributes, 0, n.ctrs),
		cpu:    make([]runtimeapi.CpuUsage, 0, n.cpu),
		mem:    make([]runtimeapi.MemoryUsage, 0, n.mem),
		swap:   make([]runtimeapi.SwapUsage, 0, n.swap),
		fs:     make([]runtimeapi.FilesystemUsage, 0, n.fs),
		fsID:   make([]runtimeapi.FilesystemIdentifier, 0, n.fs),
		pods:   make([]runtimeapi.PodSandboxStats, 0, n.pods),
		pattrs: make([]runtimeapi.PodSandboxAttributes, 0, n.pods),
		linux:  make([]runtimeapi.LinuxPodSandboxStats, 0, n.pods),
		procs:  make([]runtimeapi.ProcessUsage, 0, n.pods),
		net:    make([]runtimeapi.NetworkUsage, 0, n.net),
		ifs:    make([]runtimeapi.NetworkInterfaceUsage, 0, n.ifs),
		ctrPtr: make([]*runtimeapi.ContainerStats, 0, podCtrs),
	}
}

// take returns a zero T from s, which grows by a fresh slice when full (never by copying).
func take[T any](s *[]T) *T {
	if len(*s) == cap(*s) {
		*s = make([]T, 0, max(4, cap(*s)))
	}
	*s = (*s)[:len(*s)+1]
	return &(*s)[len(*s)-1]
}
