package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/crid-dev/crid/internal/bootid"
)

// Record is what the monitor keeps on disk per container: the State plus the
// process start time, so that Cleanup never signals a pid the kernel reused.
type Record struct {
	State
	// StartTime is field 22 of /proc/<pid>/stat (clock ticks after boot).
	StartTime uint64 `json:"startTime,omitempty"`
}

// ValidID reports whether id can name a container: it becomes a directory name.
func ValidID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 255 {
		return false
	}
	return !strings.ContainsAny(id, "/\x00")
}

// WriteFileAtomic replaces path with data so that a reader, or the writer's death at
// any point (kill -9), leaves either the old or the new content: write a temp file in
// the same dir, rename it over path. Nothing is fsynced: the files live in the pod's
// state dir, volatile by design (tmpfs, /run), describing processes and cgroups that a
// power loss ends too; the page cache outlives the monitor and crid. On a state dir
// on disk a power loss can leave a file empty or cut short, which Cleanup takes for
// what it is (bad JSON written before this boot).
// Syncing cost a pod start up to a dozen fsyncs on its critical path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// WriteRecord stores r as <dir>/state.json atomically.
func WriteRecord(dir string, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "state.json"), b, 0o600)
}

// ReadRecord loads <dir>/state.json.
func ReadRecord(dir string) (*Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &r, nil
}

// ProcStartTime returns the start time of pid from /proc/<pid>/stat, the value
// that tells a live process from a later one that reused its pid.
func ProcStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces and parentheses: fields restart after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// ErrOtherBoot is a pid file written before the machine last booted: the process it
// recorded is gone, and its pid and start time may name a process of this boot.
var ErrOtherBoot = errors.New("written before the last boot")

// PidFile is the monitor's pid file.
type PidFile struct {
	Pid       int
	StartTime uint64 // as ProcStartTime
	// BootID is the boot the monitor ran in (bootid.ID); "" in a pid file from before crid
	// recorded it.
	BootID string
}

// WritePidFile records the monitor's pid, start time and boot.
func WritePidFile(stateDir string, pid int) error {
	st, err := ProcStartTime(pid)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%d %d", pid, st)
	if boot := bootid.ID(); boot != "" {
		line += " " + boot
	}
	return WriteFileAtomic(PidPath(stateDir), []byte(line+"\n"), 0o600)
}

// LoadPidFile returns the monitor's pid file as written, whatever its boot.
func LoadPidFile(stateDir string) (PidFile, error) {
	b, err := os.ReadFile(PidPath(stateDir))
	if err != nil {
		return PidFile{}, err
	}
	var pf PidFile
	f := strings.Fields(string(b))
	if len(f) == 2 || len(f) == 3 {
		pf.Pid, err = strconv.Atoi(f[0])
		if err == nil {
			pf.StartTime, err = strconv.ParseUint(f[1], 10, 64)
		}
		if len(f) == 3 {
			pf.BootID = f[2]
		}
	} else {
		err = fmt.Errorf("%d fields, want 2 or 3", len(f))
	}
	if err != nil {
		return PidFile{}, fmt.Errorf("%s: %w", PidPath(stateDir), err)
	}
	return pf, nil
}

// ReadPidFile returns the monitor's pid and start time. A pid file of another boot
// names no process: ErrOtherBoot.
func ReadPidFile(stateDir string) (pid int, start uint64, err error) {
	pf, err := LoadPidFile(stateDir)
	if err != nil {
		return 0, 0, err
	}
	if !bootid.ThisBoot(pf.BootID) {
		return 0, 0, fmt.Errorf("%s: %w", PidPath(stateDir), ErrOtherBoot)
	}
	return pf.Pid, pf.StartTime, nil
}
