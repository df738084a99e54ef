package cgroups

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// OOMKills reads the "oom_kill" counter of the cgroup at path: memory.events
// on v2, memory.oom_control on v1 (kernel >= 4.13). The kernel bumps it before
// the victim's exit is visible to wait4, so a monitor that reads it when it
// reaps the container's init learns of the OOM kill before it reports the exit.
func (t Tree) OOMKills(path string) (uint64, error) {
	if err := t.valid(); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(t.OOMFile(path))
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", path, err)
	}
	return flatKey(b, "oom_kill")
}

// OOMFile is the flat-keyed file whose "oom_kill" counter OOMKills reads.
func (t Tree) OOMFile(path string) string {
	if !t.Unified {
		return filepath.Join(t.Root, "memory", path, "memory.oom_control")
	}
	return filepath.Join(t.Root, path, "memory.events")
}

// OOMVanishes says whether the OOMFile of path may be gone by the time the
// container's exit is read: a systemd unit's on v2 (see WatchOOM).
func (t Tree) OOMVanishes(path string) bool {
	_, _, unit := t.unitOf(path)
	return unit && t.Unified
}

// flatKey reads key from a flat-keyed cgroup file ("key value" lines); a
// missing key is 0.
func flatKey(b []byte, key string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}
