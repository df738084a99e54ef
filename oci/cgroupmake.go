package oci

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
)

// cgroupMaking is a process's cgroup being made. On v1 a process joins its cgroup
// after it started (there is no single directory to clone into), so its directories,
// a dozen hierarchies with their resource files, are made in the background while the
// process is cloned and execs, instead of before: one of the longer steps of a
// container's or a pod infra's start, under load, taken off their critical path. On
// v2 the clone puts the process in the cgroup (CLONE_INTO_CGROUP): it is made at once.
type cgroupMaking struct {
	done chan struct{}
	cg   *cgroups.Cgroup
	err  error
}

// cgroupMakingStarted, when set (by a test that does not run in parallel), is given
// each cgroup being made: the test can wait until the making is over, after which no
// directory of it can appear, before it looks whether one was left.
var cgroupMakingStarted func(path string, m *cgroupMaking)

func makeCgroup(tree cgroups.Tree, path string, r *specs.LinuxResources) *cgroupMaking {
	m := &cgroupMaking{done: make(chan struct{})}
	if cgroupMakingStarted != nil {
		cgroupMakingStarted(path, m)
	}
	run := func() {
		defer close(m.done)
		m.cg, m.err = tree.New(path, r)
	}
	if tree.Unified {
		run()
	} else {
		go run()
	}
	return m
}

// wait returns the cgroup once made. Every way out of the caller waits for it, so that
// a cgroup is never made after the caller destroyed it.
func (m *cgroupMaking) wait() (*cgroups.Cgroup, error) {
	<-m.done
	return m.cg, m.err
}
