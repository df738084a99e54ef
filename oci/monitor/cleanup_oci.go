package monitor

import "github.com/crid-dev/crid/oci"

// Cleanup destroys cgroups through the executor crid uses: the one place the
// daemon side links package oci (its cgroup code, never its init).
func init() { destroyCgroup = oci.Destroy }
