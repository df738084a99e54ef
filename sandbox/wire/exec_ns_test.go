package wire_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Pods made concurrently, then an exec in each: the exec must be in its pod's IPC and
// UTS namespaces. This found a monitor bug (a few in a hundred execs ran in the host's
// IPC namespace: the monitor's main thread had been moved into the pod's namespaces by
// a locked-thread setns and nsDiff compares against /proc/self, i.e. that thread). oci now
// keeps the main thread to itself (oci/mainthread.go).
func TestExecJoinsPodNamespacesUnderLoad(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	t.Cleanup(func() { st.m.Close() })
	const pods = 6
	var wg sync.WaitGroup
	errs := make(chan error, pods*3)
	for round := range 3 {
		for i := range pods {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := execNSOnce(ctx, st, fmt.Sprintf("r%d-%d", round, i)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func execNSOnce(ctx context.Context, st *stack, name string) error {
	m := st.m
	podID, err := m.RunPod(ctx, &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "uid-" + name},
		Hostname: name,
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}, "")
	if err != nil {
		return err
	}
	defer func() { _ = m.RemovePod(ctx, podID) }()
	id, err := m.CreateContainer(ctx, podID, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
		Image:    &runtimeapi.ImageSpec{Image: "crid.test/busybox:1"},
		Command:  []string{"sleep", "100"},
	})
	if err != nil {
		return err
	}
	if err := m.StartContainer(ctx, id); err != nil {
		return err
	}
	res, err := m.ExecSync(ctx, id, []string{"readlink", "/proc/self/ns/ipc"}, 10)
	if err != nil {
		return err
	}
	pod, _ := m.Pod(podID)
	want, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pod.InfraPid), "ns", "ipc"))
	if got := strings.TrimSpace(string(res.Stdout)); got != want {
		return fmt.Errorf("pod %s: exec in IPC namespace %q, the pod's is %q", name, got, want)
	}
	return nil
}
