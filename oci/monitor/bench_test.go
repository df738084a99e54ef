package monitor

import (
	"context"
	"io"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
)

// BenchmarkState is one unary call: dial, request, answer (the protocol's cost).
func BenchmarkState(b *testing.B) {
	t := &testing.T{}
	c, _ := startMonitorB(b)
	run(t, c, "c", "sleep 100", CreateRequest{})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.State(ctx, "c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExecOutput streams 16 MiB out of an exec (the ExecSync cap).
func BenchmarkExecOutput(b *testing.B) {
	t := &testing.T{}
	c, _ := startMonitorB(b)
	run(t, c, "c", "sleep 100", CreateRequest{})
	ctx := context.Background()
	b.SetBytes(16 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		code, err := c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"/bin/sh", "-c", "head -c 16777216 /dev/zero"}, Cwd: "/"}, Stdout: io.Discard})
		if err != nil || code != 0 {
			b.Fatal(code, err)
		}
	}
}

func startMonitorB(b *testing.B) (*Client, string) {
	stateDir := b.TempDir()
	c, err := Start(context.Background(), StartOptions{PodID: "bench", StateDir: stateDir, Binary: procBinary})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = c.Shutdown(context.Background())
		_ = Cleanup(stateDir, cgroups.HostTree())
	})
	return c, stateDir
}
