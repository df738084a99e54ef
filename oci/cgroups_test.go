package oci

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
	_ "github.com/crid-dev/crid/oci/nsenter" // the test binary doubles as the init
)

// hostTree is the host's cgroup layout, passed to every Create, Exec and
// CreatePodInfra of the tests.
var hostTree = cgroups.HostTree()

func cgPath(spec *specs.Spec) (string, error) { return cgroups.ParsePath(spec.Linux.CgroupsPath) }

// destroyCgroup kills what is left in spec's cgroup and removes it.
func destroyCgroup(spec *specs.Spec) error {
	p, err := cgPath(spec)
	if err != nil {
		return err
	}
	return hostTree.Destroy(p)
}

func loadCgroup(spec *specs.Spec) (*cgroups.Cgroup, error) {
	p, err := cgPath(spec)
	if err != nil {
		return nil, err
	}
	return hostTree.Load(p)
}

func oomKilled(spec *specs.Spec) (bool, error) {
	p, err := cgPath(spec)
	if err != nil {
		return false, err
	}
	n, err := hostTree.OOMKills(p)
	return n > 0, err
}

func readStats(spec *specs.Spec) (*cgroups.Stats, error) {
	c, err := loadCgroup(spec)
	if err != nil {
		return nil, err
	}
	return c.Stats()
}

func updateResources(spec *specs.Spec, r *specs.LinuxResources) error {
	c, err := loadCgroup(spec)
	if err != nil {
		return err
	}
	return c.Update(r)
}
