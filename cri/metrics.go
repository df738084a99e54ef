package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// Pod and container metrics under cadvisor's names, so kubelet's /metrics/cadvisor keeps
// its meaning when it takes them from the runtime (PodAndContainerStatsFromCRI). Counters
// in seconds are whole seconds: CRI metric values are integers.

var containerLabels = []string{"container", "id", "image", "name", "namespace", "pod"}
var networkLabels = []string{"container", "id", "image", "name", "namespace", "pod", "interface"}

type metricDef struct {
	name, help string
	kind       runtimeapi.MetricType
	labels     []string
	value      func(*sandbox.ContainerStats) (uint64, bool)
}

func cg(f func(*sandbox.CgroupStats) uint64) func(*sandbox.ContainerStats) (uint64, bool) {
	return func(cs *sandbox.ContainerStats) (uint64, bool) {
		if cs.Cgroup == nil {
			return 0, false
		}
		return f(cs.Cgroup), true
	}
}

var containerMetrics = []metricDef{
	{"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", runtimeapi.MetricType_COUNTER, containerLabels,
		cg(func(s *sandbox.CgroupStats) uint64 { return s.CPUUsageNanos / 1e9 })},
	{"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", runtimeapi.MetricType_GAUGE, containerLabels,
		cg(func(s *sandbox.CgroupStats) uint64 { return s.MemoryUsage })},
	{"container_memory_working_set_bytes", "Current working set in bytes.", runtimeapi.MetricType_GAUGE, containerLabels,
		cg(func(s *sandbox.CgroupStats) uint64 { return s.MemoryWorkingSet })},
	{"container_memory_rss", "Size of RSS in bytes.", runtimeapi.MetricType_GAUGE, containerLabels,
		cg(func(s *sandbox.CgroupStats) uint64 { return s.MemoryRSS })},
	{"container_spec_memory_limit_bytes", "Memory limit for the container.", runtimeapi.MetricType_GAUGE, containerLabels,
		cg(func(s *sandbox.CgroupStats) uint64 { return s.MemoryLimit })},
	{"container_processes", "Number of processes running inside the container.", runtimeapi.MetricType_GAUGE, containerLabels,
		cg(func(s *sandbox.CgroupStats) uint64 { return s.Pids })},
	{"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", runtimeapi.MetricType_GAUGE, containerLabels,
		func(cs *sandbox.ContainerStats) (uint64, bool) {
			if cs.Fs == nil {
				return 0, false
			}
			return cs.Fs.UsedBytes, true
		}},
}

type netMetricDef struct {
	name, help string
	value      func(sandbox.NetStats) uint64
}

var networkMetrics = []netMetricDef{
	{"container_network_receive_bytes_total", "Cumulative count of bytes received.", func(n sandbox.NetStats) uint64 { return n.RxBytes }},
	{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", func(n sandbox.NetStats) uint64 { return n.RxErrors }},
	{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", func(n sandbox.NetStats) uint64 { return n.TxBytes }},
	{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", func(n sandbox.NetStats) uint64 { return n.TxErrors }},
}

// ListMetricDescriptors describes every metric ListPodSandboxMetrics reports.
func (s *Server) ListMetricDescriptors(context.Context, *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	resp := &runtimeapi.ListMetricDescriptorsResponse{}
	for _, d := range containerMetrics {
		resp.Descriptors = append(resp.Descriptors, &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: d.labels})
	}
	for _, d := range networkMetrics {
		resp.Descriptors = append(resp.Descriptors, &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: networkLabels})
	}
	return resp, nil
}

func toPodMetrics(ps *sandbox.PodStats) *runtimeapi.PodSandboxMetrics {
	md := ps.Pod.Config.GetMetadata()
	out := &runtimeapi.PodSandboxMetrics{PodSandboxId: ps.Pod.ID}
	ts := ps.Timestamp.UnixNano()
	for _, n := range ps.Network {
		labels := []string{"POD", ps.Pod.ID, "", md.GetName(), md.GetNamespace(), md.GetName(), n.Name}
		for _, d := range networkMetrics {
			out.Metrics = append(out.Metrics, &runtimeapi.Metric{
				Name: d.name, Timestamp: ts, MetricType: runtimeapi.MetricType_COUNTER, LabelValues: labels, Value: u64(d.value(n)),
			})
		}
	}
	for _, cs := range ps.Containers {
		c := cs.Container
		labels := []string{c.Config.GetMetadata().GetName(), c.ID, c.Image.Spec, c.Config.GetMetadata().GetName(), md.GetNamespace(), md.GetName()}
		cm := &runtimeapi.ContainerMetrics{ContainerId: c.ID}
		for _, d := range containerMetrics {
			if v, ok := d.value(cs); ok {
				cm.Metrics = append(cm.Metrics, &runtimeapi.Metric{
					Name: d.name, Timestamp: cs.Timestamp.UnixNano(), MetricType: d.kind, LabelValues: labels, Value: u64(v),
				})
			}
		}
		out.ContainerMetrics = append(out.ContainerMetrics, cm)
	}
	return out
}

// ListPodSandboxMetrics reports every pod's metrics.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, _ *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	resp := &runtimeapi.ListPodSandboxMetricsResponse{}
	for _, ps := range s.Sandbox.ListPodStats(ctx, sandbox.PodFilter{}) {
		resp.PodMetrics = append(resp.PodMetrics, toPodMetrics(ps))
	}
	return resp, nil
}

// StreamPodSandboxMetrics is ListPodSandboxMetrics in chunks.
func (s *Server) StreamPodSandboxMetrics(_ *runtimeapi.StreamPodSandboxMetricsRequest, stream runtimeapi.RuntimeService_StreamPodSandboxMetricsServer) error {
	all := s.Sandbox.ListPodStats(stream.Context(), sandbox.PodFilter{})
	return sendChunks(len(all), func(lo, hi int) error {
		resp := &runtimeapi.StreamPodSandboxMetricsResponse{}
		for _, ps := range all[lo:hi] {
			resp.PodSandboxMetrics = append(resp.PodSandboxMetrics, toPodMetrics(ps))
		}
		return stream.Send(resp)
	})
}
