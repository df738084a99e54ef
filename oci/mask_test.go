package oci

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// Masked files are covered by the host's /dev/null, never by whatever the
// container's /dev/null names: here /dev is a volume in which a neighbour
// (the host, in the test) keeps swapping null with a symlink to
// /proc/timer_list, so a mask made from the path "/dev/null" would bind the
// masked file itself (or another masked one) and leave it readable.
func TestMaskedPathsUseTheHostDevNull(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/proc/timer_list"); err != nil {
		t.Skip("no /proc/timer_list on this kernel")
	}
	for name, k := range hostAnd510 {
		t.Run(name, func(t *testing.T) { maskedPathsUseTheHostDevNull(t, k) })
	}
}

func maskedPathsUseTheHostDevNull(t *testing.T, k *kernel.Features) {
	dev := tmpDir(t)
	null, link := filepath.Join(dev, "null"), filepath.Join(dev, "null-link")
	if err := os.Symlink("/proc/timer_list", link); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				// Fails (ENOENT) while the executor replaces null with its node.
				_ = unix.Renameat2(unix.AT_FDCWD, null, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	files := []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"}
	script := ""
	for _, f := range files {
		script += "[ -e " + f + " ] && echo " + f + " $(head -c 1 " + f + " | wc -c); "
	}
	for i := 0; i < 20; i++ {
		spec, rootfs := testSpec(t, "sh", "-c", script+"true")
		for j, m := range spec.Mounts {
			if m.Destination == "/dev" {
				spec.Mounts[j] = specs.Mount{Destination: "/dev", Type: "bind", Source: dev, Options: []string{"rbind", "rw"}}
			}
		}
		ws, out := runOn(t, spec, rootfs, k)
		if ws.ExitStatus() != 0 {
			t.Fatalf("status %v: %s", ws, out)
		}
		if !strings.Contains(out, "/proc/timer_list ") {
			t.Fatalf("run %d: no /proc/timer_list in the container: %q", i, out)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasSuffix(l, " 0") {
				t.Fatalf("run %d: a masked file is readable: %q (all: %q)", i, l, out)
			}
		}
	}
}
