package sandbox

import (
	"time"
)

// watch applies the monitor's exit events to the pod's containers until the monitor's
// event channel closes (Close of the client) or the Manager closes.
func (m *Manager) watch(p *podEntry, mon Monitor) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		evs := mon.Events()
		for {
			select {
			case <-m.ctx.Done():
				return
			case st, ok := <-evs:
				if !ok {
					m.monitorLost(p, mon)
					return
				}
				m.applyExit(p, st)
			}
		}
	}()
}

// applyExit records a process exit the monitor reported.
func (m *Manager) applyExit(p *podEntry, st *ProcState) {
	if st == nil || st.Status != ProcStopped {
		return
	}
	if st.ID == InfraID {
		m.infraExited(p)
		return
	}
	e, ok := m.ctrs.get(st.ID)
	if !ok {
		return // being created (recorded when Create returns) or already removed
	}
	if err := m.markExited(e, st); err != nil {
		// Still RUNNING in memory and on disk; a stop polls the monitor and records
		// the exit again, and a restart reconciles with the monitor.
		m.log.Error("recording a container exit", "container", st.ID, "error", err)
		return
	}
	m.nriStopped(m.ctx, e)
}

// markExited moves a container to EXITED once, with the monitor's exit figures.
//
// A process that exits at once may have its exit recorded before StartContainer records
// RUNNING; the monitor's start time then says it did run, and the STARTED event is sent
// before STOPPED: kubelet's evented PLEG expects both, in that order.
func (m *Manager) markExited(e *ctrEntry, st *ProcState) error {
	var started *Container // the RUNNING state no snapshot showed
	_, _, err := m.updateContainerThen(e, func(c *Container) bool {
		if c.State == ContainerExited {
			return false
		}
		if c.State == ContainerCreated && !st.StartedAt.IsZero() {
			r := *c
			r.State, r.StartedAt = ContainerRunning, st.StartedAt
			started = &r
		}
		c.State = ContainerExited
		c.ExitCode = st.ExitCode
		c.FinishedAt = st.FinishedAt
		if c.FinishedAt.IsZero() {
			c.FinishedAt = time.Now()
		}
		// The monitor saw the start itself; its time is the one ordered with its exit.
		if !st.StartedAt.IsZero() {
			c.StartedAt = st.StartedAt
		}
		if !c.StartedAt.IsZero() && c.FinishedAt.Before(c.StartedAt) {
			c.FinishedAt = c.StartedAt
		}
		c.Reason, c.Message = exitReason(st), ""
		if st.OOMKilled {
			oomKills.Inc()
		}
		return true
	}, func(c *Container) {
		if started != nil {
			m.publishContainer(EventStarted, started)
		}
		m.publishContainer(EventStopped, c)
	})
	m.forgetCgroup(e.snap.Load())
	return err
}

func exitReason(st *ProcState) string {
	switch {
	case st.OOMKilled:
		return "OOMKilled"
	case st.ExitCode == 0:
		return "Completed"
	default:
		return "Error"
	}
}

// infraExited: the pod's namespaces lost their holder; the pod is NOTREADY.
func (m *Manager) infraExited(p *podEntry) {
	if _, err := m.updatePod(p, ptr(EventStopped), func(pod *Pod) bool {
		if pod.State == PodNotReady {
			return false
		}
		pod.State = PodNotReady
		pod.Message = "pod infra process exited"
		return true
	}); err != nil {
		// Still READY in memory and on disk; a restart asks the monitor again.
		m.log.Error("recording the pod infra's exit", "pod", p.id(), "error", err)
	}
}

// monitorLost handles a monitor whose event stream ended without crid closing it: the
// monitor died. Its containers are reported exited (their stdio and exit status went with
// it) after Runtime.Cleanup killed what it left, and the pod is NOTREADY.
func (m *Manager) monitorLost(p *podEntry, mon Monitor) {
	if m.ctx.Err() != nil {
		return // crid is shutting down and closed the client itself
	}
	ref := p.mon.Load()
	if ref == nil || ref.Monitor != mon || !p.mon.CompareAndSwap(ref, nil) {
		return // removed, or replaced: not a loss
	}
	mon.Close()
	pod := p.snap.Load()
	monitorsLost.WithLabelValues("running").Inc()
	m.log.Error("pod monitor is gone", "pod", pod.ID)
	if err := m.deps.Runtime.Cleanup(pod.Dir); err != nil {
		m.log.Error("cleaning up after a dead pod monitor", "pod", pod.ID, "error", err)
	}
	for _, c := range m.PodContainers(pod.ID) {
		e, ok := m.ctrs.get(c.ID)
		if !ok {
			continue
		}
		_, _, err := m.updateContainer(e, ptr(EventStopped), func(c *Container) bool {
			if c.State == ContainerExited {
				return false
			}
			c.State, c.ExitCode, c.Reason = ContainerExited, 255, "Unknown"
			c.Message, c.FinishedAt = "the pod monitor died", time.Now()
			return true
		})
		if err != nil {
			// A stop finds the monitor gone and records the exit then.
			m.log.Error("recording a container lost with its monitor", "container", c.ID, "error", err)
		}
	}
	if _, err := m.updatePod(p, ptr(EventStopped), func(pod *Pod) bool {
		if pod.State == PodNotReady {
			return false
		}
		pod.State, pod.Message = PodNotReady, "the pod monitor died"
		return true
	}); err != nil {
		// Still READY until a restart finds the monitor gone.
		m.log.Error("recording a lost pod monitor", "pod", pod.ID, "error", err)
	}
}
