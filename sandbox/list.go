package sandbox

// Lists are served from the in-memory snapshots only: no lock is held across slow work,
// so a stuck container or monitor cannot make kubelet's relist hang (containerd #9770).

// PodFilter selects pods; zero fields match everything.
type PodFilter struct {
	ID     string // id or id prefix
	State  *PodState
	Labels map[string]string // every pair must match
}

// ContainerFilter selects containers; zero fields match everything.
type ContainerFilter struct {
	ID     string // id or id prefix
	PodID  string // pod id or id prefix
	State  *ContainerState
	Labels map[string]string
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// Pods returns the pods f selects, in no particular order.
func (m *Manager) Pods(f PodFilter) []*Pod {
	if e, ok := m.pods.get(f.ID); ok && f.ID != "" { // the common exact-id case, O(1)
		p := e.snap.Load()
		if f.matches(p) {
			return []*Pod{p}
		}
		return nil
	}
	all := m.pods.all()
	out := make([]*Pod, 0, len(all))
	for _, e := range all {
		if p := e.snap.Load(); f.matches(p) {
			out = append(out, p)
		}
	}
	return out
}

func (f PodFilter) matches(p *Pod) bool {
	return hasPrefix(p.ID, f.ID) && (f.State == nil || *f.State == p.State) && labelsMatch(p.Config.GetLabels(), f.Labels)
}

// Containers returns the containers f selects, in no particular order.
func (m *Manager) Containers(f ContainerFilter) []*Container {
	if e, ok := m.ctrs.get(f.ID); ok && f.ID != "" {
		c := e.snap.Load()
		if f.matches(c) {
			return []*Container{c}
		}
		return nil
	}
	all := m.ctrs.all()
	out := make([]*Container, 0, len(all))
	for _, e := range all {
		if c := e.snap.Load(); f.matches(c) {
			out = append(out, c)
		}
	}
	return out
}

func (f ContainerFilter) matches(c *Container) bool {
	return hasPrefix(c.ID, f.ID) && hasPrefix(c.PodID, f.PodID) &&
		(f.State == nil || *f.State == c.State) && labelsMatch(c.Config.GetLabels(), f.Labels)
}
