package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/internal/bootid"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// Cleanup removes what a dead monitor left behind in stateDir: it kills the
// monitor if it still runs, then every recorded container process and the pod
// infra (a pid is signalled only if /proc/<pid>/stat still shows the recorded
// start time, so a reused pid is never killed, and only if the monitor's pid file is
// of this boot: start times count from the boot), destroys their cgroups in tree
// (the host's, cgroups.HostTree) and removes the monitor's directory.
// Idempotent; the rest of stateDir is the caller's.
func Cleanup(stateDir string, tree cgroups.Tree) error {
	mon, boot := monitorBoot(stateDir)
	if boot != otherBoot {
		killVerified(mon.Pid, mon.StartTime)
	}
	ents, err := os.ReadDir(api.ContainersDir(stateDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var errs []error
	for _, e := range ents {
		dir := filepath.Join(api.ContainersDir(stateDir), e.Name())
		if rec, err := api.ReadRecord(dir); err == nil && rec.Pid > 0 && rec.Status != api.StatusStopped && boot != otherBoot {
			killVerified(rec.Pid, rec.StartTime)
		}
		specPath := filepath.Join(dir, "spec.json")
		b, err := os.ReadFile(specPath)
		if errors.Is(err, os.ErrNotExist) || (err == nil && lostWithPower(b)) {
			continue
		}
		var spec specs.Spec
		if err == nil {
			err = json.Unmarshal(b, &spec)
			if err != nil && boot.before(specPath) {
				continue // cut short by the power loss that ended its processes too
			}
		}
		if err == nil {
			err = deleteFromRuntime(dir, e.Name(), &spec, boot)
		}
		// A spec without a cgroup put nothing in one (the monitor's own tests).
		if err == nil && spec.Linux != nil && spec.Linux.CgroupsPath != "" {
			err = destroyCgroup(tree, spec.Linux.CgroupsPath)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", e.Name(), err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return os.RemoveAll(api.Dir(stateDir))
}

// lostWithPower tells a file the monitor wrote but a power loss emptied (its writes are
// not synced: api.WriteFileAtomic) from one it never finished: empty, or the zeros a
// filesystem shows for blocks it had not written. The machine restarted since, so the
// processes and cgroups that file named are gone: nothing is left to undo.
func lostWithPower(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}

// stateBoot is what Cleanup knows of the boot the monitor's files were written in.
type stateBoot int

const (
	unknownBoot stateBoot = iota // no pid file, or one from before crid recorded boots
	thisBoot
	otherBoot
)

// monitorBoot reads the pid file of the monitor in stateDir (zero if unreadable) and
// tells its boot: that of every file in the monitor's dir, as no monitor outlives its
// boot. A pid file a power loss emptied is of another boot.
func monitorBoot(stateDir string) (api.PidFile, stateBoot) {
	pf, err := api.LoadPidFile(stateDir)
	switch {
	case err != nil:
		if b, err := os.ReadFile(api.PidPath(stateDir)); err == nil && lostWithPower(b) {
			return api.PidFile{}, otherBoot
		}
		return api.PidFile{}, unknownBoot
	case pf.BootID == "" || bootid.ID() == "":
		return pf, unknownBoot
	case bootid.ThisBoot(pf.BootID):
		return pf, thisBoot
	}
	return pf, otherBoot
}

// before tells whether the monitor's file at path was last written before the machine
// booted. A state file is not synced (api.WriteFileAtomic), so a power loss can leave
// one of more than a page cut short, not only empty: bad JSON from an earlier boot
// names processes and cgroups that boot ended, while bad JSON written since is still
// an error. The boot id decides; without one, the file's mtime against the boot time
// (which a wall clock set since, or wrong in the last boot, can mislead).
func (b stateBoot) before(path string) bool {
	switch b {
	case thisBoot:
		return false
	case otherBoot:
		return true
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	var info syscall.Sysinfo_t
	if syscall.Sysinfo(&info) != nil {
		return false
	}
	boot := time.Now().Add(-time.Duration(info.Uptime) * time.Second)
	// Uptime is whole seconds: a file from the first second of this boot counts as this
	// boot's, never the other way round.
	return fi.ModTime().Before(boot.Add(-time.Second))
}

func destroyCgroup(tree cgroups.Tree, cgroupsPath string) error {
	p, err := cgroups.ParsePath(cgroupsPath)
	if err != nil {
		return err
	}
	return tree.Destroy(p)
}

// killVerified SIGKILLs pid if it is still the process that started at start,
// and waits a little for it to go.
func killVerified(pid int, start uint64) {
	if pid <= 0 || start == 0 {
		return
	}
	if st, err := api.ProcStartTime(pid); err != nil || st != start {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100; i++ {
		st, err := api.ProcStartTime(pid)
		if err != nil || st != start {
			return
		}
		// A zombie keeps its stat until its parent reaps it: it is dead enough.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && isZombie(b) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isZombie(stat []byte) bool {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] == 'Z'
		}
	}
	return false
}
