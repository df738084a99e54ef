package sandbox

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Operator metrics of the pod domain. The per-state gauges are read from the in-memory
// index at scrape time (StateCollector), so they are exact and cost nothing between scrapes.
var (
	oomKills = promauto.NewCounter(prometheus.CounterOpts{
		Name: "crid_container_oom_kills_total",
		Help: "Containers whose exit the kernel's OOM killer caused (reported OOMKilled).",
	})
	monitorsLost = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "crid_pod_monitors_lost_total",
		Help: "Pod monitors found dead, while crid ran (when=running) or when crid restarted (when=restart); their containers are reported exited.",
	}, []string{"when"})
	monitorsReconnected = promauto.NewCounter(prometheus.CounterOpts{
		Name: "crid_pod_monitors_reconnected_total",
		Help: "Pod monitors crid reconnected to when it (re)started: the pods that outlived a crid restart.",
	})
)

var (
	podsDesc = prometheus.NewDesc("crid_pods", "Pod sandboxes by state (READY, NOTREADY).", []string{"state"}, nil)
	ctrsDesc = prometheus.NewDesc("crid_containers", "Containers by state (CREATED, RUNNING, EXITED, UNKNOWN).", []string{"state"}, nil)
)

// stateCollector reports how many pods and containers are in each state.
type stateCollector struct{ m *Manager }

// StateCollector returns the collector of the crid_pods and crid_containers gauges; the
// daemon registers it once.
func (m *Manager) StateCollector() prometheus.Collector { return stateCollector{m} }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- podsDesc
	ch <- ctrsDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	pods := map[PodState]int{PodReady: 0, PodNotReady: 0}
	ctrs := map[ContainerState]int{ContainerCreated: 0, ContainerRunning: 0, ContainerExited: 0, ContainerUnknown: 0}
	for _, e := range c.m.pods.all() {
		if p := e.snap.Load(); p != nil { // nil while RunPodSandbox is still making it
			pods[p.State]++
		}
	}
	for _, e := range c.m.ctrs.all() {
		if ct := e.snap.Load(); ct != nil {
			ctrs[ct.State]++
		}
	}
	for s, n := range pods {
		ch <- prometheus.MustNewConstMetric(podsDesc, prometheus.GaugeValue, float64(n), s.String())
	}
	for s, n := range ctrs {
		ch <- prometheus.MustNewConstMetric(ctrsDesc, prometheus.GaugeValue, float64(n), s.String())
	}
}
