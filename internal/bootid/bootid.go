// Package bootid tells the boots apart: a record that outlives a reboot (a state dir off
// tmpfs) names the boot it was written in, so that its pids are not taken for this boot's.
package bootid

import (
	"os"
	"strings"
	"sync"
)

// ID returns the kernel's random id of this boot, "" if it cannot be read. A state dir
// off tmpfs outlives a reboot, and a pid with its start time (clock ticks since boot)
// recorded in one boot can name a process of the next: the monitor's pid file records
// the boot it was written in, which is that of everything in the monitor's dir (no
// monitor outlives its boot).
var ID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// ThisBoot reports whether a record of boot id boot was written in this boot. One
// without (written before crid recorded boots) is taken as this boot's, as it was
// then; so is any when this boot's id is unknown.
func ThisBoot(boot string) bool {
	return boot == "" || ID() == "" || boot == ID()
}
