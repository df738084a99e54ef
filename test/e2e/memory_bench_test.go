package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BenchmarkPodMemory prints what a pod costs the runtime in memory (issue 16.1): for
// 10 and for 110 pods, each one sleep container, in a crid of its own, after a period
// of kubelet-like polling (every second ListPodSandbox, ListContainers and the status
// of every pod and container; every 10 s ListPodSandboxStats and ListContainerStats),
// the PSS of the pods' monitors, of their pause processes, and the daemon's PSS growth
// from idle, per pod. It asserts nothing and times nothing; b.N is ignored:
//
//	go test -run '^$' -bench PodMemory -benchtime 1x -timeout 30m ./test/e2e/
//
// CRID_E2E_MEM_PODS (e.g. "10,110") and CRID_E2E_MEM_POLL (a duration, default 3m)
// change the pod counts and the polling period.
func BenchmarkPodMemory(b *testing.B) {
	counts := []int{10, 110}
	if v := os.Getenv("CRID_E2E_MEM_PODS"); v != "" {
		counts = counts[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("CRID_E2E_MEM_PODS=%q: %q is not a pod count", v, f)
			}
			counts = append(counts, n)
		}
	}
	poll := 3 * time.Minute
	if v := os.Getenv("CRID_E2E_MEM_POLL"); v != "" {
		var err error
		if poll, err = time.ParseDuration(v); err != nil {
			b.Fatalf("CRID_E2E_MEM_POLL: %v", err)
		}
	}
	var rows []string
	for _, n := range counts {
		rows = append(rows, measurePodMemory(b, n, poll))
	}
	b.Logf("after %s of polling (KiB per pod):\n%-6s %10s %10s %12s %14s %16s %8s\n%s", poll,
		"pods", "monitor", "pause", "daemon growth", "runtime (m+d)", "runtime (m+p+d)", "C body", strings.Join(rows, "\n"))
}

func measurePodMemory(b *testing.B, n int, poll time.Duration) string {
	d, err := newDaemon(daemonOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, err := range d.Cleanup() {
			b.Errorf("cleanup: %v", err)
		}
	}()
	img := testImage(b, d)
	// The daemon's idle figure is taken once the image is in and the first calls
	// have warmed it, so that the growth is what the pods cost.
	settleMemory()
	idle, err := readPss(d.Pid())
	if err != nil {
		b.Fatal(err)
	}
	pods := make([]string, n)
	ctrs := make([]string, n)
	cfgs := make([]*runtimeapi.PodSandboxConfig, n)
	for i := range cfgs {
		cfgs[i] = d.podConfig(b, fmt.Sprint("mem", i))
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				podID, ctrID, err := startSleeper(d, cfgs[i], img)
				mu.Lock()
				pods[i], ctrs[i] = podID, ctrID
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	defer func() {
		for _, id := range pods {
			if id != "" {
				d.removePod(b, id)
			}
		}
	}()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	if err := pollLikeKubelet(d, pods, ctrs, poll); err != nil {
		b.Fatal(err)
	}
	settleMemory()
	withPods, err := readPss(d.Pid())
	if err != nil {
		b.Fatal(err)
	}
	var monitors, pauses int64
	inC := 0 // monitors that are their C body (monitor_idle_switch): one thread
	for _, id := range pods {
		mon, pause, err := podHelpers(id)
		if err != nil {
			b.Fatal(err)
		}
		for _, pid := range mon {
			m, _ := readPss(pid)
			monitors += m
			if threadCount(pid) == 1 {
				inC++
			}
		}
		for _, pid := range pause {
			m, _ := readPss(pid)
			pauses += m
		}
	}
	k := int64(n)
	growth := (withPods - idle) / k
	return fmt.Sprintf("%-6d %10d %10d %12d %14d %16d %8s", n, monitors/k, pauses/k, growth,
		monitors/k+growth, (monitors+pauses)/k+growth, fmt.Sprintf("%d/%d", inC, n))
}

// threadCount is the number of threads of pid (0 if unknown).
func threadCount(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// settleMemory lets start-up garbage be collected and returned (the monitor trims
// a second after a burst of work; the daemon's scavenger is slower).
func settleMemory() { time.Sleep(5 * time.Second) }

func startSleeper(d *Daemon, pod *runtimeapi.PodSandboxConfig, img string) (podID, ctrID string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	defer cancel()
	resp, err := d.RT.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
	if err != nil {
		return "", "", fmt.Errorf("RunPodSandbox: %w", err)
	}
	d.recordPod(resp.PodSandboxId)
	c, err := d.RT.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: resp.PodSandboxId, SandboxConfig: pod, Config: containerConfig("c", img, "sleep", "3600")})
	if err != nil {
		return resp.PodSandboxId, "", fmt.Errorf("CreateContainer: %w", err)
	}
	d.recordContainer(c.ContainerId)
	if _, err := d.RT.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		return resp.PodSandboxId, c.ContainerId, fmt.Errorf("StartContainer: %w", err)
	}
	return resp.PodSandboxId, c.ContainerId, nil
}

// pollLikeKubelet makes the calls a kubelet makes for running pods: its PLEG relists
// and reads every status each second, its stats provider lists stats every 10 s.
func pollLikeKubelet(d *Daemon, pods, ctrs []string, period time.Duration) error {
	status := time.NewTicker(time.Second)
	defer status.Stop()
	stats := time.NewTicker(10 * time.Second)
	defer stats.Stop()
	end := time.After(period)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
		err := pollStatus(ctx, d, pods, ctrs)
		cancel()
		if err != nil {
			return err
		}
		select {
		case <-end:
			return nil
		case <-stats.C:
			ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
			_, err := d.RT.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
			if err == nil {
				_, err = d.RT.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
			}
			cancel()
			if err != nil {
				return fmt.Errorf("stats: %w", err)
			}
			<-status.C
		case <-status.C:
		}
	}
}

func pollStatus(ctx context.Context, d *Daemon, pods, ctrs []string) error {
	if _, err := d.RT.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err != nil {
		return err
	}
	if _, err := d.RT.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); err != nil {
		return err
	}
	for i := range pods {
		if _, err := d.RT.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pods[i]}); err != nil {
			return err
		}
		if _, err := d.RT.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctrs[i]}); err != nil {
			return err
		}
	}
	return nil
}

// podHelpers finds a pod's monitor (its command line names the pod) and the pause
// processes among the monitor's children.
func podHelpers(podID string) (monitors, pauses []int, err error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(cmd, []byte{0})
		if len(args) > 2 && bytes.HasSuffix(args[0], []byte("crid-monitor")) && string(args[1]) == "monitor" && string(args[2]) == podID {
			monitors = append(monitors, pid)
		}
	}
	for _, m := range monitors {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", m))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.HasPrefix(cmd, []byte("crid-pause\x00")) {
					pauses = append(pauses, pid)
				}
			}
		}
	}
	return monitors, pauses, nil
}

// readPss is a process's proportional set size in KiB (/proc/PID/smaps_rollup).
func readPss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("pid %d: no Pss in smaps_rollup", pid)
}
