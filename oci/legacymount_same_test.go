package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Without mount_setattr (5.10) every mount comes out with the flags it gets with it:
// the same container's mount table, mount point by mount point, on both paths. The
// spec has what the fallback handles mount by mount: a read-only rootfs, rbinds with
// submounts (ro on the top only, as "ro" means), the cgroup view, masked paths, and
// spec mounts below read-only paths, which the fallback reaches by walking the clone's
// submounts (they must come out read-only, nosuid, nodev, noexec there too). The
// submount's name has a space, which mountinfo escapes: the walk must open it by
// its real name.
func TestMountFlagsSameWithoutMountSetattr(t *testing.T) {
	requireRoot(t)
	src := tmpDir(t)
	sub := filepath.Join(src, "sub dir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", unix.MS_NOSUID, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	tables := map[string]map[string]string{}
	for name, k := range hostAnd510 {
		spec, rootfs := testSpec(t, "cat", "/proc/self/mountinfo")
		spec.Root.Readonly = true
		spec.Mounts = append(spec.Mounts,
			specs.Mount{Destination: "/vol-ro", Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev"}},
			specs.Mount{Destination: "/vol-rw", Type: "bind", Source: src, Options: []string{"rbind", "noexec"}},
			specs.Mount{Destination: "/proc/sys/kernel/random", Type: "bind", Source: src, Options: []string{"rbind"}},
		)
		ws, mi := runOn(t, spec, rootfs, k)
		if ws.ExitStatus() != 0 {
			t.Fatalf("%s: status %v: %s", name, ws, mi)
		}
		tables[name] = mountOptionsByPoint(t, mi)
	}
	host, old := tables["this kernel"], tables["5.10"]
	for mp, want := range host {
		if old[mp] != want {
			t.Errorf("%s: %q on 5.10, %q with mount_setattr", mp, old[mp], want)
		}
	}
	for mp, got := range old {
		if _, ok := host[mp]; !ok {
			t.Errorf("%s (%q) only on 5.10", mp, got)
		}
	}
	// What the comparison rests on: the visible mounts below a read-only path are.
	for _, mp := range []string{"/proc/sys/kernel/random", "/proc/sys/kernel/random/sub dir"} {
		if opts := old[mp]; !strings.HasSuffix(opts, "ro,nosuid,nodev,noexec,relatime") {
			t.Errorf("%s below read-only /proc/sys on 5.10: %q", mp, opts)
		}
	}
}

// mountOptionsByPoint maps each mount point of a mountinfo to its per-mount options,
// stacked mounts bottom first joined by " | " (the last one is the visible one).
func mountOptionsByPoint(t *testing.T, mi string) map[string]string {
	t.Helper()
	mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(mi), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, i := range mounts {
		if m[i.Mountpoint] != "" {
			m[i.Mountpoint] += " | "
		}
		m[i.Mountpoint] += i.Options
	}
	return m
}
