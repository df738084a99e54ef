package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/oci/kernel"
)

// manyLayers points rootfs at 40 extra layers under 120-byte paths, more
// than mount(2)'s one page of options holds when named by path; layer 7
// holds /layer-7.
func manyLayers(t testing.TB, rootfs []specs.Mount) {
	t.Helper()
	base := tmpDir(t)
	var lowers []string
	for i := 0; i < 40; i++ {
		d := filepath.Join(base, fmt.Sprintf("layer-%02d-%s", i, strings.Repeat("x", 110)))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if i == 7 {
			if err := os.WriteFile(filepath.Join(d, "layer-7"), []byte("seven\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		lowers = append(lowers, d)
	}
	rootfs[0].Options[0] = "lowerdir=" + strings.Join(append(lowers, lowerDir), ":")
	if len(strings.Join(rootfs[0].Options, ",")) < 4096 {
		t.Fatal("test layers too short")
	}
}

// overlayWays are the ways of mounting an overlay rootfs this kernel has,
// each as the features a kernel offering only it would have.
func overlayWays(t testing.TB) map[string]*kernel.Features {
	host := HostKernel(true)
	ways := map[string]*kernel.Features{
		"lowerdir= string (< 6.8)":           {Overlay: kernel.OverlayLowerdirString, MountSetattr: true, CloseRangeCloexec: true},
		"5.10 (lowerdir=, no mount_setattr)": kernel510(),
	}
	if host.Overlay == kernel.OverlayLowerdirPlus {
		ways["lowerdir+ (6.8+)"] = &kernel.Features{Overlay: kernel.OverlayLowerdirPlus, MountSetattr: true, CloseRangeCloexec: true}
	} else {
		t.Logf("this kernel (%s) has no lowerdir+: only the fallback runs", host.Release)
	}
	return ways
}

// TestManyLayers: a container runs on every overlay mount way this kernel
// has, with more layers under longer paths than one page of options holds.
func TestManyLayers(t *testing.T) {
	requireRoot(t)
	for name, k := range overlayWays(t) {
		t.Run(name, func(t *testing.T) {
			spec, rootfs := testSpec(t, "sh", "-c", "cat /layer-7; grep ' / / ' /proc/self/mountinfo")
			manyLayers(t, rootfs)
			ws, out := runOn(t, spec, rootfs, k)
			if ws.ExitStatus() != 0 || !strings.HasPrefix(out, "seven\n") || !strings.Contains(out, " - overlay ") {
				t.Fatalf("status %v output %q", ws, out)
			}
		})
	}
}

// TestOverlayStringTooManyLayers: past one page even by fd names (overlayfs
// itself stops at 500 layers), the fallback fails with a clear error and
// leaves nothing behind.
func TestOverlayStringTooManyLayers(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "true")
	lowers := strings.Repeat(lowerDir+":", 300) + lowerDir
	rootfs[0].Options[0] = "lowerdir=" + lowers
	_, err := Create(t.Context(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec, Rootfs: rootfs,
		Kernel: &kernel.Features{Overlay: kernel.OverlayLowerdirString, MountSetattr: true, CloseRangeCloexec: true}})
	if err == nil || !strings.Contains(err.Error(), "exceed the kernel's one page") {
		t.Fatalf("err = %v", err)
	}
}

// TestUserNamespaceOverlayWays: a user-namespaced container's overlay on
// idmapped layers, each way this kernel has (layers as fds: 6.13+; attached
// in a private mount namespace: 5.19+), with many long layer paths. Files of
// host root show as the container's root; writes land as its mapped id.
func TestUserNamespaceOverlayWays(t *testing.T) {
	requireRoot(t)
	host := HostKernel(true)
	if !host.UserNamespaces {
		t.Skipf("kernel %s: no overlay on idmapped layers", host.Release)
	}
	ways := map[string]kernel.IDMappedOverlay{"layer paths (5.19-6.12)": kernel.IDMappedLayerPaths}
	if host.IDMappedOverlay == kernel.IDMappedLayerFds {
		ways["layer fds (6.13+)"] = kernel.IDMappedLayerFds
	}
	for name, way := range ways {
		t.Run(name, func(t *testing.T) {
			spec, rootfs := userNSSpec(t, "sh", "-c", "cat /layer-7; stat -c '%u:%g' /bin/busybox; echo x > /newfile")
			manyLayers(t, rootfs)
			k := *host
			k.IDMappedOverlay = way
			ws, out := runOn(t, spec, rootfs, &k)
			if ws.ExitStatus() != 0 || out != "seven\n0:0\n" {
				t.Fatalf("status %v output %q", ws, out)
			}
			fi, err := os.Stat(filepath.Join(filepath.Dir(spec.Root.Path), "upper", "newfile"))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 100000 {
				t.Errorf("written as host uid %d, want 100000", st.Uid)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(spec.Root.Path), ".idmapped-layers-*")); len(left) > 0 {
				t.Errorf("stage dirs left: %v", left)
			}
		})
	}
}

// BenchmarkOverlayWays: create, start and wait for a /bin/true container on
// 41 layers under long paths, each way of mounting the overlay this kernel
// has (the fallback opens one fd per layer).
func BenchmarkOverlayWays(b *testing.B) {
	requireRoot(b)
	for name, k := range overlayWays(b) {
		b.Run(name, func(b *testing.B) {
			var d []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				spec, rootfs := testSpec(b, "/bin/true")
				manyLayers(b, rootfs)
				b.StartTimer()
				t0 := time.Now()
				c, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "b" + randID(), Spec: spec, Rootfs: rootfs, Kernel: k})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Start(); err != nil {
					b.Fatal(err)
				}
				if ws := waitExit(b, c.Pid); ws.ExitStatus() != 0 {
					b.Fatalf("exit %v", ws)
				}
				d = append(d, time.Since(t0))
				b.StopTimer()
				if err := destroyCgroup(spec); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			reportQuantiles(b, d)
		})
	}
}
