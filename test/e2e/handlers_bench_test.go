package e2e

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// envBaselineBinDir names a directory with crid and crid-monitor built from an earlier
// commit (the one before runtime handlers) for BenchmarkHandlerPodStart's "before" figure.
const envBaselineBinDir = "CRID_BENCH_BASELINE_BIN_DIR"

// BenchmarkHandlerPodStart times a pod start (RunPodSandbox + CreateContainer +
// StartContainer of an image crid has) on the built-in executor of this build (the ""
// handler and its name "crid"), on each external handler, and, with
// CRID_BENCH_BASELINE_BIN_DIR set, on a crid built before runtime handlers existed: each
// iteration starts one pod of every variant in turn, so load falls on all alike. It
// prints median, p95 and min per variant:
//
//	git worktree add /tmp/before d231aeb~ && (cd /tmp/before && make build)
//	CRID_BENCH_BASELINE_BIN_DIR=/tmp/before/bin go test -run '^$' -bench HandlerPodStart -benchtime 30x ./test/e2e/
func BenchmarkHandlerPodStart(b *testing.B) {
	type measured struct {
		name  string
		start func() time.Duration
		took  []time.Duration
	}
	image := push(b, reg.open, "e2e/handler-bench", build(b, variant("handler-bench"))).Tag
	daemon := func(opts daemonOptions) *Daemon {
		d, err := newDaemon(opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			for _, err := range d.Cleanup() {
				b.Errorf("cleanup: %v", err)
			}
		})
		if _, err := d.IS.PullImage(ctxT(b, criTimeout), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}}); err != nil {
			b.Fatalf("pull: %v", err)
		}
		return d
	}
	var vs []*measured
	var skipped []string
	if dir := os.Getenv(envBaselineBinDir); dir != "" {
		before := daemon(daemonOptions{binDir: dir})
		vs = append(vs, &measured{name: "built-in, before handlers (" + dir + ")", start: criPodStart(b, "unix://"+before.Sock, image, "")})
	}
	d := daemon(daemonOptions{config: handlersConfig()})
	vs = append(vs,
		&measured{name: `built-in, handler ""`, start: criPodStart(b, "unix://"+d.Sock, image, "")},
		&measured{name: `built-in, handler "crid"`, start: criPodStart(b, "unix://"+d.Sock, image, "crid")})
	for _, rt := range externalRuntimes {
		if _, err := os.Stat(rt.path); err != nil || rt.unsupported() != "" {
			skipped = append(skipped, rt.name)
			continue
		}
		vs = append(vs, &measured{name: "handler " + rt.name, start: criPodStart(b, "unix://"+d.Sock, image, rt.name)})
	}
	b.ResetTimer()
	for range b.N {
		for _, v := range vs {
			v.took = append(v.took, v.start())
		}
	}
	b.StopTimer()
	if b.N < 2 {
		return // the testing package's probe run: figures come from the real one
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("pod start (RunPodSandbox + CreateContainer + StartContainer), %d runs each, interleaved:\n", b.N)
	for _, v := range vs {
		slices.Sort(v.took)
		fmt.Printf("  %-60s median %6.1f ms  p95 %6.1f ms  min %6.1f ms\n", v.name,
			ms(v.took[len(v.took)/2]), ms(v.took[min(len(v.took)-1, len(v.took)*95/100)]), ms(v.took[0]))
	}
	for _, name := range skipped {
		fmt.Printf("  handler %s: not measured (binary missing, or it cannot run here)\n", name)
	}
}
