package sandbox

import (
	"context"
	"fmt"
	"time"
)

// recover rebuilds the index from the store after a (re)start, reconnects to each pod's
// monitor and learns what happened while crid was down:
//   - a pod or container still in PhaseCreating was cut short by a crash: roll it back;
//   - a pod in PhaseRemoving: finish the removal;
//   - a container's real state (and exit code) comes from its monitor;
//   - a pod whose monitor is gone is NOTREADY and its containers EXITED with a message,
//     after Runtime.Cleanup has killed whatever the dead monitor left.
func (m *Manager) recover(ctx context.Context) error {
	pods, ctrs, bad, err := m.store.load()
	if err != nil {
		return err
	}
	for _, b := range bad {
		m.log.Error("unreadable record in the sandbox store: moved aside to its quarantine bucket", "record", b.key, "error", b.err)
	}
	byPod := map[string][]*Container{}
	for _, c := range ctrs {
		byPod[c.PodID] = append(byPod[c.PodID], c)
	}
	var removing []string
	for _, p := range pods {
		if p.Phase == PhaseCreating {
			m.log.Warn("rolling back a pod sandbox a crash interrupted", "pod", p.ID)
			for _, c := range byPod[p.ID] {
				m.releaseOrLog(ctx, c, nil)
			}
			if err := m.releasePod(ctx, p, nil); err != nil {
				m.log.Error("rolling back a pod sandbox: its record stays for the next start", "pod", p.ID, "error", err)
			}
			delete(byPod, p.ID)
			continue
		}
		if err := m.recoverPod(ctx, p, byPod[p.ID]); err != nil {
			return fmt.Errorf("pod %s: %w", p.ID, err)
		}
		delete(byPod, p.ID)
		if p.Phase == PhaseRemoving {
			removing = append(removing, p.ID)
		}
	}
	for podID, cs := range byPod { // containers of a pod that no longer exists
		for _, c := range cs {
			m.log.Warn("removing a container whose pod is gone", "container", c.ID, "pod", podID)
			m.releaseOrLog(ctx, c, nil)
		}
	}
	m.removeOrphanNetNS()
	for _, c := range m.Containers(ContainerFilter{}) {
		if c.Phase == PhaseRemoving {
			if err := m.RemoveContainer(ctx, c.ID); err != nil {
				m.log.Error("finishing an interrupted container removal", "container", c.ID, "error", err)
			}
		}
	}
	for _, id := range removing {
		if err := m.RemovePod(ctx, id); err != nil {
			m.log.Error("finishing an interrupted pod removal", "pod", id, "error", err)
		}
	}
	return nil
}

// releaseOrLog releases a container recover() drops; on failure its record stays and the
// next start tries again.
func (m *Manager) releaseOrLog(ctx context.Context, c *Container, mon Monitor) {
	if err := m.releaseContainer(ctx, c, mon); err != nil {
		m.log.Error("releasing a container: its record stays for the next start", "container", c.ID, "error", err)
	}
}

// recoverPod indexes a stored pod and its containers as their monitor knows them now.
// It fails only when the store cannot record what it learnt.
func (m *Manager) recoverPod(ctx context.Context, p *Pod, cs []*Container) error {
	e := &podEntry{}
	var states map[string]*ProcState
	mon, err := m.deps.Runtime.Connect(ctx, p.Dir)
	if err == nil {
		var list []*ProcState
		if list, err = mon.List(ctx); err != nil {
			mon.Close()
			mon = nil
		} else {
			states = map[string]*ProcState{}
			for _, st := range list {
				states[st.ID] = st
			}
		}
	}
	if mon == nil {
		if p.State == PodReady { // a NOTREADY pod's monitor may be long gone: it would count at every restart
			monitorsLost.WithLabelValues("restart").Inc()
		}
		m.log.Warn("pod monitor is gone; its containers are reported exited", "pod", p.ID, "error", err)
		if cerr := m.deps.Runtime.Cleanup(p.Dir); cerr != nil {
			m.log.Error("cleaning up after a dead pod monitor", "pod", p.ID, "error", cerr)
		}
		if p.State == PodReady {
			p.State, p.Message = PodNotReady, "pod monitor was gone when crid restarted"
		}
	} else {
		monitorsReconnected.Inc()
	}
	if mon != nil && p.State == PodReady {
		// List leaves the infra out; ask for it by name.
		if st, err := mon.State(ctx, InfraID); err != nil || st.Status == ProcStopped {
			p.State, p.Message = PodNotReady, "pod infra process exited while crid was down"
		}
	}
	if err := m.store.putPod(p); err != nil {
		if mon != nil {
			mon.Close()
		}
		return fmt.Errorf("persist: %w", err)
	}
	e.snap.Store(p)
	if mon != nil {
		e.mon.Store(&monitorRef{mon}) // from here on Close closes it
	}
	m.pods.add(p.ID, p.key(), e)

	for _, c := range cs {
		if c.Phase == PhaseCreating {
			m.log.Warn("rolling back a container a crash interrupted", "container", c.ID)
			m.releaseOrLog(ctx, c, mon)
			continue
		}
		reconcileContainer(c, states, mon != nil)
		if err := m.store.putContainer(c); err != nil {
			return fmt.Errorf("container %s: persist: %w", c.ID, err)
		}
		ce := &ctrEntry{exited: make(chan struct{})}
		if c.State == ContainerExited {
			close(ce.exited)
		}
		ce.snap.Store(c)
		m.ctrs.add(c.ID, c.key(), ce)
	}
	if mon != nil {
		m.watch(e, mon)
	}
	return nil
}

// reconcileContainer brings a stored container up to what its monitor knows.
func reconcileContainer(c *Container, states map[string]*ProcState, monitorUp bool) {
	if c.State == ContainerExited {
		return
	}
	st := states[c.ID]
	switch {
	case st == nil:
		c.State, c.ExitCode, c.Reason = ContainerExited, 255, "Unknown"
		c.FinishedAt = time.Now()
		if monitorUp {
			c.Message = "the pod monitor has no record of this container"
		} else {
			c.Message = "the pod monitor was gone when crid restarted"
		}
	case st.Status == ProcStopped:
		c.State, c.ExitCode, c.Reason, c.Message = ContainerExited, st.ExitCode, exitReason(st), ""
		c.FinishedAt = st.FinishedAt
		if c.StartedAt.IsZero() {
			c.StartedAt = st.StartedAt
		}
	case st.Status == ProcRunning:
		c.State = ContainerRunning
		if c.StartedAt.IsZero() {
			c.StartedAt = st.StartedAt
		}
	}
}

// removeOrphanNetNS removes pinned network namespaces no pod owns (a crash between the
// netns and the intent record cannot happen, but an older crid or a lost record can leave
// them). Only when the network can list them.
func (m *Manager) removeOrphanNetNS() {
	lister, ok := m.deps.Network.(interface{ ListNetNS() ([]string, error) })
	if !ok {
		return
	}
	ids, err := lister.ListNetNS()
	if err != nil {
		m.log.Warn("listing pinned network namespaces", "error", err)
		return
	}
	for _, id := range ids {
		if _, known := m.pods.get(id); !known {
			m.log.Info("removing a network namespace no pod owns", "pod", id)
			if err := m.deps.Network.RemoveNetNS(m.deps.Network.NetNSPath(id)); err != nil {
				m.log.Warn("removing orphan netns", "pod", id, "error", err)
			}
		}
	}
}
