package monitor

import "github.com/crid-dev/crid/oci"

// Cleanup destroys cgroups through the executor crid uses.
func init() { destroyCgroup = oci.Destroy }
