package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BenchmarkCLIRunDetached times `crid run -d IMAGE sleep 600` of an image the runtime
// already has, as a person runs it: the crid binary started, its CRI calls (image status,
// list, RunPodSandbox, CreateContainer, StartContainer), the ID printed. It prints the
// median and p95; each container is removed outside the timing. Against crid by default,
// or the runtime at CRID_E2E_CLI_ENDPOINT (image CRID_E2E_CLI_IMAGE):
//
//	go test -run '^$' -bench CLIRunDetached -benchtime 20x ./test/e2e/
func BenchmarkCLIRunDetached(b *testing.B) {
	endpoint, image := os.Getenv(envCLIEndpoint), os.Getenv(envCLIImage)
	if endpoint == "" {
		d, err := newDaemon(daemonOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			for _, err := range d.Cleanup() {
				b.Errorf("cleanup: %v", err)
			}
		})
		endpoint, image = "unix://"+d.Sock, push(b, reg.open, "e2e/cli-bench", build(b, variant("cli-bench"))).Tag
	}
	crid := func(args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(binDir, "crid"), args...)
		cmd.Env = append(os.Environ(), "CONTAINER_RUNTIME_ENDPOINT="+endpoint)
		return cmd
	}
	if out, err := crid("pull", image).CombinedOutput(); err != nil {
		b.Fatalf("pull: %v\n%s", err, out)
	}
	base := criBaseline(b, endpoint, image)
	samples := make([]time.Duration, 0, b.N)
	var baseline []time.Duration
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("bench-%d-%s", i, randHex(3))
		start := time.Now()
		out, err := crid("run", "-d", "--name", name, image, "sleep", "600").CombinedOutput()
		samples = append(samples, time.Since(start))
		b.StopTimer()
		if err != nil {
			b.Fatalf("crid run -d: %v\n%s", err, out)
		}
		// The same pod made by direct CRI calls, interleaved, so that the CLI's own cost
		// shows even on a loaded machine.
		baseline = append(baseline, base())
		if out, err := crid("rm", "-f", name).CombinedOutput(); err != nil {
			b.Fatalf("crid rm -f: %v\n%s", err, out)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(samples)
	slices.Sort(baseline)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	median, p95 := samples[len(samples)/2], samples[min(len(samples)-1, len(samples)*95/100)]
	b.ReportMetric(ms(median), "ms-median")
	b.ReportMetric(ms(p95), "ms-p95")
	b.ReportMetric(ms(baseline[len(baseline)/2]), "ms-cri-median")
	if b.N < 2 {
		return // the testing package's probe run: figures come from the real one
	}
	fmt.Printf("crid run -d (%s, %d runs): median %.1f ms, p95 %.1f ms, min %.1f ms, max %.1f ms\n",
		endpoint, len(samples), ms(median), ms(p95), ms(samples[0]), ms(samples[len(samples)-1]))
	fmt.Printf("direct CRI RunPodSandbox+CreateContainer+StartContainer, interleaved: median %.1f ms, p95 %.1f ms\n",
		ms(baseline[len(baseline)/2]), ms(baseline[min(len(baseline)-1, len(baseline)*95/100)]))
}

// criBaseline returns a func that makes (and then removes) one pod with one sleeping
// container through CRI directly and returns how long making it took.
func criBaseline(b *testing.B, endpoint, image string) func() time.Duration {
	return criPodStart(b, endpoint, image, "")
}

// criPodStart returns a func timing RunPodSandbox + CreateContainer + StartContainer of a
// pod of the runtime handler handler at endpoint (the pod is removed after the timing).
func criPodStart(b *testing.B, endpoint, image, handler string) func() time.Duration {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	logDir := b.TempDir()
	return func() time.Duration {
		ctx := ctxT(b, criTimeout)
		name := "bench-cri-" + randHex(4)
		pod := &runtimeapi.PodSandboxConfig{
			Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: name},
			LogDirectory: logDir,
			Linux:        &runtimeapi.LinuxPodSandboxConfig{},
		}
		start := time.Now()
		p, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod, RuntimeHandler: handler})
		if err != nil {
			b.Fatalf("RunPodSandbox: %v", err)
		}
		c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.PodSandboxId, SandboxConfig: pod,
			Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: image},
				Args: []string{"sleep", "600"}, LogPath: "c.log"}})
		if err == nil {
			_, err = rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId})
		}
		took := time.Since(start)
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.PodSandboxId})
		_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.PodSandboxId})
		if err != nil {
			b.Fatalf("create/start: %v", err)
		}
		return took
	}
}
