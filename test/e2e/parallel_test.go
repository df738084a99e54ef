package e2e

import (
	"fmt"
	"sync"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestParallelPods: kubelet starts and removes pods concurrently. Every pod gets its own
// IP and a running container, and concurrent removal leaves nothing behind.
func TestParallelPods(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	const n = 6
	type result struct {
		podID, ctrID string
		err          error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := d.podConfig(t, fmt.Sprint("par", i))
			resp, err := d.RT.RunPodSandbox(ctxT(t, criTimeout), &runtimeapi.RunPodSandboxRequest{Config: pod})
			if err != nil {
				results[i].err = fmt.Errorf("RunPodSandbox: %w", err)
				return
			}
			d.recordPod(resp.PodSandboxId)
			results[i].podID = resp.PodSandboxId
			c, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{
				PodSandboxId: resp.PodSandboxId, SandboxConfig: pod, Config: containerConfig("c", img, "sleep", "3600")})
			if err != nil {
				results[i].err = fmt.Errorf("CreateContainer: %w", err)
				return
			}
			d.recordContainer(c.ContainerId)
			results[i].ctrID = c.ContainerId
			if _, err := d.RT.StartContainer(ctxT(t, criTimeout), &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
				results[i].err = fmt.Errorf("StartContainer: %w", err)
			}
		}()
	}
	wg.Wait()
	ips := map[string]int{}
	for i, r := range results {
		if r.podID != "" {
			t.Cleanup(func() { d.removePod(t, r.podID) })
		}
		if r.err != nil {
			t.Errorf("pod %d: %v", i, r.err)
			continue
		}
		if st := d.containerStatus(t, r.ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("pod %d: container %v, want running", i, st.State)
		}
		ip := d.podIP(t, r.podID)
		if j, dup := ips[ip]; dup {
			t.Errorf("pods %d and %d both got IP %s", j, i, ip)
		}
		ips[ip] = i
	}
	for i, r := range results {
		if r.podID == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxT(t, criTimeout)
			if _, err := d.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: r.podID}); err != nil {
				t.Errorf("pod %d: StopPodSandbox: %v", i, err)
			} else if _, err := d.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: r.podID}); err != nil {
				t.Errorf("pod %d: RemovePodSandbox: %v", i, err)
			}
		}()
	}
	wg.Wait()
	pods, err := d.RT.ListPodSandbox(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, r := range results {
			if p.Id == r.podID {
				t.Errorf("pod %s still listed after concurrent removal", p.Id)
			}
		}
	}
}

// TestConcurrentPulls: several pulls of one image at once all succeed with the same id.
func TestConcurrentPulls(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.image(t, "concurrent")
	ids := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := d.IS.PullImage(ctxT(t, criTimeout), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img.Tag}})
			if err == nil {
				ids[i] = resp.ImageRef
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != img.ConfigDigest {
			t.Errorf("pull %d: %q %v, want %s", i, ids[i], errs[i], img.ConfigDigest)
		}
	}
}
