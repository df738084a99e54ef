package images

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/hack/testimages"

	"github.com/crid-dev/crid/internal/testenv"
)

// BenchmarkPull pulls the ~200 MiB, 5-layer image of incompressible data from a registry on
// 127.0.0.1 and unpacks it. MB/s counts compressed layer bytes per second of wall time;
// cpu-ms/pull is the process's CPU time per pull (the registry, in this process, serving
// included), which a loaded machine moves far less than the wall time.
//
//	cold/keep     empty store: download, verify, decompress, unpack, commit blob and snapshot
//	cold/discard  the same with discard_unpacked_layers: no layer blob written or synced
//	warm-blobs    blobs already in the content store, snapshots gone: verify + unpack only
//	warm-pulled   image already pulled: resolve the manifest and find everything present
//
// Each cold case runs with max_concurrent_downloads 3 (the default, containerd's) and 6
// (CRI-O's): dl3 and dl6. The cold cases alternate within each -count round, so a load
// that moves touches them alike.
func BenchmarkPull(b *testing.B) {
	if !testenv.Privileged() {
		b.Skip("needs root")
	}
	img, err := testimages.Bench()
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	layers, _ := img.Layers()
	for _, l := range layers {
		n, _ := l.Size()
		size += n
	}
	reg := newRegistry(b)
	push(b, reg, "bench/big:1", img)
	ref := reg.Ref("bench/big:1")
	ctx := context.Background()

	var cpu time.Duration // of the timed pulls
	report := func(b *testing.B, elapsed time.Duration) {
		b.ReportMetric(float64(size)*float64(b.N)/1e6/elapsed.Seconds(), "MB/s")
		b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/pull")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/pull")
		b.ReportMetric(0, "ns/op")
		cpu = 0
	}
	timed := func(b *testing.B, f func()) time.Duration {
		c0, start := cpuTime(b), time.Now()
		f()
		el := time.Since(start)
		cpu += cpuTime(b) - c0
		return el
	}

	cold := func(discard bool, downloads int) func(b *testing.B) {
		return func(b *testing.B) {
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e := newEnv(b, func(c *Config) {
					c.DiscardUnpackedLayers = discard
					c.MaxConcurrentDownloads = downloads
				})
				b.StartTimer()
				elapsed += timed(b, func() {
					if _, err := e.svc.Pull(ctx, ref, nil); err != nil {
						b.Fatal(err)
					}
				})
				b.StopTimer()
				e.svc.Close()
				os.RemoveAll(e.dir)
				b.StartTimer()
			}
			report(b, elapsed)
		}
	}
	for _, mode := range []string{"keep", "discard"} {
		for _, downloads := range []int{3, 6} {
			b.Run(fmt.Sprintf("cold/%s/dl%d", mode, downloads), cold(mode == "discard", downloads))
		}
	}

	b.Run("warm-blobs", func(b *testing.B) {
		e := newEnv(b, nil)
		e.pull(b, ref)
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dropSnapshots(b, e.svc)
			b.StartTimer()
			elapsed += timed(b, func() {
				if _, err := e.svc.Pull(ctx, ref, nil); err != nil {
					b.Fatal(err)
				}
			})
		}
		report(b, elapsed)
	})

	b.Run("warm-pulled", func(b *testing.B) {
		e := newEnv(b, nil)
		e.pull(b, ref)
		b.ResetTimer()
		report(b, timed(b, func() {
			for i := 0; i < b.N; i++ {
				if _, err := e.svc.Pull(ctx, ref, nil); err != nil {
					b.Fatal(err)
				}
			}
		}))
	})
}

// dropSnapshots forgets every image and deletes the snapshots but keeps the blobs, as after
// a crash that lost unpacked layers.
func dropSnapshots(b *testing.B, s *Service) {
	s.mu.Lock()
	var dels []*record
	for _, r := range s.images {
		dels = append(dels, r)
	}
	if err := s.commitLocked(nil, dels); err != nil {
		b.Fatal(err)
	}
	s.mu.Unlock()
	for _, r := range dels {
		for _, c := range r.ChainIDs {
			os.RemoveAll(s.snapshotDir(c))
		}
	}
}

// cpuTime is the user and system CPU this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
