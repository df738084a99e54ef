package monitor

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crid-dev/crid/cgroups"
)

// BenchmarkSparesStart times 10 concurrent pod monitor starts (10 RunPodSandbox at once)
// with no spare, with one (one pod adopts it, the others start their own monitor:
// waiting for the next spare would wait for a whole start) and with ten. One op is the
// 10 starts; the pool is filled and everything shut down and cleaned up outside the
// timer. Reports the per-start median and p95 and the wall of the 10 (median over ops).
func BenchmarkSparesStart(b *testing.B) {
	const pods = 10
	for _, spares := range []int{0, 1, pods} {
		b.Run(fmt.Sprintf("spares=%d", spares), func(b *testing.B) {
			var starts, walls []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				pool := readySpares(b, spares)
				b.StartTimer()
				took, wall := startConcurrently(b, pool, pods) // stops the timer
				starts = append(starts, took...)
				walls = append(walls, wall)
			}
			slices.Sort(starts)
			slices.Sort(walls)
			b.ReportMetric(ms(starts[len(starts)/2]), "start-median-ms")
			b.ReportMetric(ms(starts[len(starts)*95/100]), "start-p95-ms")
			b.ReportMetric(ms(walls[len(walls)/2]), "wall-ms")
		})
	}
}

// readySpares is a pool of n spares, all ready, or nil for n = 0.
func readySpares(b *testing.B, n int) *Spares {
	if n == 0 {
		return nil
	}
	pool := NewSpares(StartOptions{Binary: procBinary}, n, nil)
	deadline := time.Now().Add(10 * time.Second)
	for pool.readyCount() < n {
		if time.Now().After(deadline) {
			pool.Close()
			b.Fatalf("%d of %d spares ready after 10s", pool.readyCount(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the spares' Go runtime is up, as a pool's are at RunPodSandbox
	return pool
}

// startConcurrently starts pods monitors at once (through pool when it is not nil),
// answers how long each start and the whole took, then closes the pool and shuts down
// and cleans up every monitor with the timer stopped.
func startConcurrently(b *testing.B, pool *Spares, pods int) ([]time.Duration, time.Duration) {
	dirs := make([]string, pods)
	for i := range dirs {
		dirs[i] = b.TempDir()
	}
	took := make([]time.Duration, pods)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range dirs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			opts := StartOptions{Binary: procBinary, PodID: "p" + filepath.Base(dirs[i]), StateDir: dirs[i]}
			s := time.Now()
			var c *Client
			var err error
			if pool != nil {
				c, err = pool.Start(context.Background(), opts)
			} else {
				c, err = Start(context.Background(), opts)
			}
			took[i] = time.Since(s)
			if err != nil {
				b.Error(err)
				return
			}
			c.Close()
		}(i)
	}
	wg.Wait()
	wall := time.Since(t0)
	b.StopTimer()
	if pool != nil {
		pool.Close()
	}
	for _, d := range dirs {
		if c, err := Connect(context.Background(), d); err == nil {
			_ = c.Shutdown(context.Background())
			c.Close()
		}
		if err := Cleanup(d, cgroups.HostTree()); err != nil {
			b.Error(err)
		}
	}
	if b.Failed() {
		b.FailNow()
	}
	return took, wall
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
