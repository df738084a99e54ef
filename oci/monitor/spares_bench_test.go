package monitor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crid-dev/crid/cgroups"
)

// TestSparesStartFigures prints how long 10 concurrent pod monitor starts take (10
// RunPodSandbox at once) with no spare, with one (one pod adopts it, the others start
// their own monitor: waiting for the next spare would wait for a whole start) and with
// ten, rounds of the three alternating (CRID_SPARES_ROUNDS=N; skipped without). Figures
// only.
func TestSparesStartFigures(t *testing.T) {
	rounds, err := strconv.Atoi(os.Getenv("CRID_SPARES_ROUNDS"))
	if err != nil || rounds <= 0 {
		t.Skip("CRID_SPARES_ROUNDS=N prints the figures")
	}
	const pods = 10
	spareCounts := []int{0, 1, pods}
	lat := map[string][]time.Duration{}
	wall := map[string][]time.Duration{}
	for r := 0; r < rounds; r++ {
		for _, n := range spareCounts {
			name := fmt.Sprintf("spares=%d", n)
			var p *Spares
			if n > 0 {
				p = NewSpares(StartOptions{Binary: procBinary}, n, nil)
				deadline := time.Now().Add(10 * time.Second)
				for p.readyCount() < n && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond) // its Go runtime is up
			}
			dirs := make([]string, pods)
			times := make([]time.Duration, pods)
			var wg sync.WaitGroup
			t0 := time.Now()
			for i := range dirs {
				dirs[i] = t.TempDir()
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					opts := StartOptions{Binary: procBinary, PodID: "p" + filepath.Base(dirs[i]), StateDir: dirs[i]}
					s := time.Now()
					var c *Client
					var err error
					if p != nil {
						c, err = p.Start(context.Background(), opts)
					} else {
						c, err = Start(context.Background(), opts)
					}
					times[i] = time.Since(s)
					if err != nil {
						t.Error(err)
						return
					}
					c.Close()
				}(i)
			}
			wg.Wait()
			wall[name] = append(wall[name], time.Since(t0))
			lat[name] = append(lat[name], times...)
			if p != nil {
				p.Close()
			}
			for _, d := range dirs {
				if c, err := Connect(context.Background(), d); err == nil {
					_ = c.Shutdown(context.Background())
					c.Close()
				}
				_ = Cleanup(d, cgroups.HostTree())
			}
		}
	}
	for _, n := range spareCounts {
		name := fmt.Sprintf("spares=%d", n)
		l, w := lat[name], wall[name]
		slices.Sort(l)
		slices.Sort(w)
		t.Logf("%s: start median %v p95 %v min %v; wall of %d at once median %v", name,
			l[len(l)/2].Round(100*time.Microsecond), l[len(l)*95/100].Round(100*time.Microsecond), l[0].Round(100*time.Microsecond), pods, w[len(w)/2].Round(100*time.Microsecond))
	}
}
