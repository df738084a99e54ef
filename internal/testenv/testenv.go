// Package testenv tells tests what this host lets them do.
package testenv

import "os"

// UnprivilegedVar is the variable that, when set, makes Privileged false even for root: `make unit`
// sets it so that its run means the same for root and for a developer without
// root (`make integration` runs the privileged tests).
const UnprivilegedVar = "CRID_TEST_UNPRIVILEGED"

// Privileged reports whether tests may create namespaces, mounts, cgroups,
// network devices and daemons: the process is root and UnprivilegedVar is unset.
func Privileged() bool {
	return os.Geteuid() == 0 && os.Getenv(UnprivilegedVar) == ""
}
