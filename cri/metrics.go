package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// Pod and container metrics under cadvisor's names, so kubelet's /metrics/cadvisor keeps
// its meaning when it takes them from the runtime (PodAndContainerStatsFromCRI), and the
// set cri-tools checks for. CRI metric values are integers: "_seconds" counters are whole
// seconds. Every series of one metric carries exactly the label keys its descriptor
// lists: the six container labels, then the metric's own.

var containerLabels = []string{"container", "id", "image", "name", "namespace", "pod"}

// sample is one series of a metric: its value and the values of the metric's own labels.
type sample struct {
	value  uint64
	labels []string
}

// metricInput is what a container's metrics are computed from.
type metricInput struct {
	cs  *sandbox.ContainerStats
	res *runtimeapi.LinuxContainerResources
	now time.Time
}

type metricDef struct {
	name, help string
	kind       runtimeapi.MetricType
	extra      []string // label keys after the container labels
	samples    func(in metricInput) []sample
}

func one(v uint64) []sample { return []sample{{value: v}} }

// fromCgroup makes a metric from the container's cgroup (running containers only).
func fromCgroup(f func(*sandbox.CgroupStats) uint64) func(metricInput) []sample {
	return func(in metricInput) []sample {
		if in.cs.Cgroup == nil {
			return nil
		}
		return one(f(in.cs.Cgroup))
	}
}

// fromDetail makes a metric from what the container's processes hold open (running
// containers only).
func fromDetail(f func(*sandbox.CgroupDetail) uint64) func(metricInput) []sample {
	return func(in metricInput) []sample {
		if in.cs.Detail == nil {
			return nil
		}
		return one(f(in.cs.Detail))
	}
}

func fromSpec(f func(*runtimeapi.LinuxContainerResources) uint64) func(metricInput) []sample {
	return func(in metricInput) []sample {
		if in.cs.Container.State != sandbox.ContainerRunning {
			return nil
		}
		return one(f(in.res))
	}
}

// fromPressure makes a stall-time metric in whole seconds (cadvisor's
// container_pressure_*: "waiting" is PSI's some, "stalled" its full); none where
// the host reports no PSI.
func fromPressure(p func(*sandbox.CgroupStats) *sandbox.Pressure, full bool) func(metricInput) []sample {
	return func(in metricInput) []sample {
		if in.cs.Cgroup == nil {
			return nil
		}
		pr := p(in.cs.Cgroup)
		if pr == nil {
			return nil
		}
		l := pr.Some
		if full {
			l = pr.Full
		}
		if l == nil {
			return nil
		}
		return one(l.TotalMicros / 1e6)
	}
}

func cpuPressure(s *sandbox.CgroupStats) *sandbox.Pressure    { return s.CPUPressure }
func memoryPressure(s *sandbox.CgroupStats) *sandbox.Pressure { return s.MemoryPressure }
func ioPressure(s *sandbox.CgroupStats) *sandbox.Pressure     { return s.IOPressure }

func nonNeg(v int64) uint64 { return uint64(max(v, 0)) }

func blkio(f func(sandbox.BlkioDevice) []sample) func(metricInput) []sample {
	return func(in metricInput) []sample {
		if in.cs.Cgroup == nil {
			return nil
		}
		var out []sample
		for _, d := range in.cs.Cgroup.IO {
			out = append(out, f(d)...)
		}
		return out
	}
}

func devName(d sandbox.BlkioDevice) string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

const (
	counter = runtimeapi.MetricType_COUNTER
	gauge   = runtimeapi.MetricType_GAUGE
)

var containerMetrics = []metricDef{
	{"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.CPUUsageNanos / 1e9 })},
	{"container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.CPUUserNanos / 1e9 })},
	{"container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.CPUSystemNanos / 1e9 })},
	{"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.CPUPeriods })},
	{"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.CPUThrottledPeriods })},
	{"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.CPUThrottledNanos / 1e9 })},
	{"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryUsage })},
	{"container_memory_working_set_bytes", "Current working set in bytes.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryWorkingSet })},
	{"container_memory_rss", "Size of RSS in bytes.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryRSS })},
	{"container_memory_cache", "Number of bytes of page cache memory.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryCache })},
	{"container_memory_mapped_file", "Size of memory mapped files in bytes.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryMappedFile })},
	{"container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryKernel })},
	{"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryMaxUsage })},
	{"container_memory_failcnt", "Number of memory usage hits limits.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemoryFailcnt })},
	{"container_memory_swap", "Container swap usage in bytes.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.MemorySwap })},
	{"container_memory_failures_total", "Cumulative count of memory allocation failures.", counter, []string{"failure_type", "scope"},
		func(in metricInput) []sample {
			if in.cs.Cgroup == nil {
				return nil
			}
			return []sample{
				{in.cs.Cgroup.PageFaults, []string{"pgfault", "container"}},
				{in.cs.Cgroup.MajorPageFaults, []string{"pgmajfault", "container"}},
			}
		}},
	{"container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.", counter, nil,
		fromPressure(cpuPressure, false)},
	{"container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.", counter, nil,
		fromPressure(cpuPressure, true)},
	{"container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.", counter, nil,
		fromPressure(memoryPressure, false)},
	{"container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.", counter, nil,
		fromPressure(memoryPressure, true)},
	{"container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.", counter, nil,
		fromPressure(ioPressure, false)},
	{"container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.", counter, nil,
		fromPressure(ioPressure, true)},
	{"container_oom_events_total", "Count of out of memory events observed for the container.", counter, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.OOMEvents })},
	{"container_processes", "Number of processes running inside the container.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.Pids })},
	{"container_threads", "Number of threads running inside the container.", gauge, nil,
		fromDetail(func(d *sandbox.CgroupDetail) uint64 { return d.Threads })},
	{"container_threads_max", "Maximum number of threads allowed inside the container, 0 for unlimited.", gauge, nil,
		fromCgroup(func(s *sandbox.CgroupStats) uint64 { return s.PidsLimit })},
	{"container_file_descriptors", "Number of open file descriptors for the container.", gauge, nil,
		fromDetail(func(d *sandbox.CgroupDetail) uint64 { return d.FileDescriptors })},
	{"container_sockets", "Number of open sockets for the container.", gauge, nil,
		fromDetail(func(d *sandbox.CgroupDetail) uint64 { return d.Sockets })},
	{"container_spec_cpu_period", "CPU period of the container.", gauge, nil,
		fromSpec(func(r *runtimeapi.LinuxContainerResources) uint64 { return nonNeg(r.GetCpuPeriod()) })},
	{"container_spec_cpu_shares", "CPU share of the container.", gauge, nil,
		fromSpec(func(r *runtimeapi.LinuxContainerResources) uint64 { return nonNeg(r.GetCpuShares()) })},
	{"container_spec_memory_limit_bytes", "Memory limit for the container.", gauge, nil,
		fromSpec(func(r *runtimeapi.LinuxContainerResources) uint64 { return nonNeg(r.GetMemoryLimitInBytes()) })},
	{"container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", gauge, nil,
		fromSpec(func(r *runtimeapi.LinuxContainerResources) uint64 { return nonNeg(r.GetMemorySwapLimitInBytes()) })},
	{"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", gauge, nil,
		func(in metricInput) []sample {
			if in.cs.Container.StartedAt.IsZero() {
				return nil
			}
			return one(uint64(in.cs.Container.StartedAt.Unix()))
		}},
	{"container_last_seen", "Last time a container was seen by the exporter.", gauge, nil,
		func(in metricInput) []sample { return one(uint64(in.now.Unix())) }},
	{"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", gauge, nil,
		func(in metricInput) []sample {
			if in.cs.Fs == nil {
				return nil
			}
			return one(in.cs.Fs.UsedBytes)
		}},
	{"container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", gauge, nil,
		fromDetail(func(d *sandbox.CgroupDetail) uint64 { return d.FsLimitBytes })},
	{"container_fs_inodes_total", "Number of Inodes.", gauge, nil,
		fromDetail(func(d *sandbox.CgroupDetail) uint64 { return d.FsInodesTotal })},
	{"container_fs_inodes_free", "Number of available Inodes.", gauge, nil,
		fromDetail(func(d *sandbox.CgroupDetail) uint64 { return d.FsInodesFree })},
	{"container_blkio_device_usage_total", "Blkio device bytes usage.", counter, []string{"device", "major", "minor", "operation"},
		blkio(func(d sandbox.BlkioDevice) []sample {
			maj, mnr := fmt.Sprint(d.Major), fmt.Sprint(d.Minor)
			return []sample{
				{d.ReadBytes, []string{devName(d), maj, mnr, "Read"}},
				{d.WriteBytes, []string{devName(d), maj, mnr, "Write"}},
			}
		})},
	{"container_fs_reads_bytes_total", "Cumulative count of bytes read.", counter, []string{"device"},
		blkio(func(d sandbox.BlkioDevice) []sample { return []sample{{d.ReadBytes, []string{devName(d)}}} })},
	{"container_fs_writes_bytes_total", "Cumulative count of bytes written.", counter, []string{"device"},
		blkio(func(d sandbox.BlkioDevice) []sample { return []sample{{d.WriteBytes, []string{devName(d)}}} })},
	{"container_fs_reads_total", "Cumulative count of reads completed.", counter, []string{"device"},
		blkio(func(d sandbox.BlkioDevice) []sample { return []sample{{d.Reads, []string{devName(d)}}} })},
	{"container_fs_writes_total", "Cumulative count of writes completed.", counter, []string{"device"},
		blkio(func(d sandbox.BlkioDevice) []sample { return []sample{{d.Writes, []string{devName(d)}}} })},
}

type netMetricDef struct {
	name, help string
	value      func(sandbox.NetStats) uint64
}

var networkMetrics = []netMetricDef{
	{"container_network_receive_bytes_total", "Cumulative count of bytes received.", func(n sandbox.NetStats) uint64 { return n.RxBytes }},
	{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", func(n sandbox.NetStats) uint64 { return n.RxErrors }},
	{"container_network_receive_packets_total", "Cumulative count of packets received.", func(n sandbox.NetStats) uint64 { return n.RxPackets }},
	{"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", func(n sandbox.NetStats) uint64 { return n.RxDropped }},
	{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", func(n sandbox.NetStats) uint64 { return n.TxBytes }},
	{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", func(n sandbox.NetStats) uint64 { return n.TxErrors }},
	{"container_network_transmit_packets_total", "Cumulative count of packets transmitted.", func(n sandbox.NetStats) uint64 { return n.TxPackets }},
	{"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", func(n sandbox.NetStats) uint64 { return n.TxDropped }},
}

var networkLabels = append(append([]string{}, containerLabels...), "interface")

// ListMetricDescriptors describes every metric ListPodSandboxMetrics reports.
func (s *Server) ListMetricDescriptors(context.Context, *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	resp := &runtimeapi.ListMetricDescriptorsResponse{}
	for _, d := range containerMetrics {
		keys := append(append([]string{}, containerLabels...), d.extra...)
		resp.Descriptors = append(resp.Descriptors, &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: keys})
	}
	for _, d := range networkMetrics {
		resp.Descriptors = append(resp.Descriptors, &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: networkLabels})
	}
	return resp, nil
}

func (s *Server) toPodMetrics(ps *sandbox.PodStats) *runtimeapi.PodSandboxMetrics {
	md := ps.Pod.Config.GetMetadata()
	out := &runtimeapi.PodSandboxMetrics{PodSandboxId: ps.Pod.ID}
	now := time.Now()
	for _, n := range ps.Network {
		// Network belongs to the pod: cadvisor reports it on the pod's infra ("POD").
		labels := []string{"POD", ps.Pod.ID, "", md.GetName(), md.GetNamespace(), md.GetName(), n.Name}
		for _, d := range networkMetrics {
			out.Metrics = append(out.Metrics, &runtimeapi.Metric{
				Name: d.name, Timestamp: ps.Timestamp.UnixNano(), MetricType: counter, LabelValues: labels, Value: u64(d.value(n)),
			})
		}
	}
	for _, cs := range ps.Containers {
		c := cs.Container
		base := []string{c.Config.GetMetadata().GetName(), c.ID, c.Image.Spec, c.Config.GetMetadata().GetName(), md.GetNamespace(), md.GetName()}
		in := metricInput{cs: cs, res: s.Sandbox.ContainerResources(c), now: now}
		cm := &runtimeapi.ContainerMetrics{ContainerId: c.ID}
		for _, d := range containerMetrics {
			for _, smp := range d.samples(in) {
				cm.Metrics = append(cm.Metrics, &runtimeapi.Metric{
					Name: d.name, Timestamp: cs.Timestamp.UnixNano(), MetricType: d.kind,
					LabelValues: append(append([]string{}, base...), smp.labels...), Value: u64(smp.value),
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
	for _, ps := range s.Sandbox.ListPodMetrics(ctx) {
		resp.PodMetrics = append(resp.PodMetrics, s.toPodMetrics(ps))
	}
	return resp, nil
}

// StreamPodSandboxMetrics is ListPodSandboxMetrics in chunks.
func (s *Server) StreamPodSandboxMetrics(_ *runtimeapi.StreamPodSandboxMetricsRequest, stream runtimeapi.RuntimeService_StreamPodSandboxMetricsServer) error {
	all := s.Sandbox.ListPodMetrics(stream.Context())
	return sendChunks(len(all), func(lo, hi int) error {
		resp := &runtimeapi.StreamPodSandboxMetricsResponse{}
		for _, ps := range all[lo:hi] {
			resp.PodSandboxMetrics = append(resp.PodSandboxMetrics, s.toPodMetrics(ps))
		}
		return stream.Send(resp)
	})
}
