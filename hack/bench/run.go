package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// bench holds one endpoint's connection and the pods it made, so that every exit path
// removes them.
type bench struct {
	o      options
	rt     runtimeapi.RuntimeServiceClient
	is     runtimeapi.ImageServiceClient
	logDir string
	runID  string
	mu     sync.Mutex // guards pods and seq: the density mode starts pods concurrently
	pods   map[string]bool
	seq    int
	// daemonPid and metrics (its /metrics URL, or "") split the List*/stats latencies.
	daemonPid int
	metrics   string
}

func (b *bench) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), b.o.timeout)
}

// endpoint is one runtime being measured: its bench, its result and what to close.
type endpoint struct {
	b         *bench
	r         *Result
	daemonPid int
	close     func()
}

// openEndpoint connects to endpoint, makes sure the image is there and runs one warm-up
// pod: first-use costs (cgroup parents, CNI bridge, caches) are not the figure anyone
// wants. On error the returned endpoint (if any) still has its result and must be closed.
func openEndpoint(o options, addr string, daemonPid int, metrics string) (*endpoint, error) {
	sock, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		return nil, fmt.Errorf("endpoint %q: want unix:///path", addr)
	}
	r := &Result{Endpoint: addr, Latency: map[string]*Stats{}}
	if daemonPid == 0 {
		pid, err := socketOwner(sock)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: no daemon memory figures: %v (give --daemon-pid)\n", err)
		}
		daemonPid = pid
	}
	r.DaemonPid = daemonPid
	if daemonPid > 0 {
		r.Memory.Fresh = readMem(daemonPid)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp("", "crid-bench-logs")
	if err != nil {
		conn.Close()
		return nil, err
	}
	id := make([]byte, 4)
	rand.Read(id)
	b := &bench{o: o, rt: runtimeapi.NewRuntimeServiceClient(conn), is: runtimeapi.NewImageServiceClient(conn),
		logDir: logDir, pods: map[string]bool{}, runID: hex.EncodeToString(id), daemonPid: daemonPid, metrics: metrics}
	e := &endpoint{b: b, r: r, daemonPid: daemonPid, close: func() {
		b.removeAll()
		if o.podCgroups {
			if left := removeCgroupTree(b.cgroupRoot()); len(left) > 0 {
				fmt.Fprintf(os.Stderr, "bench: %s: pod cgroups not removed: %s\n", addr, strings.Join(left, " "))
			}
		}
		conn.Close()
		os.RemoveAll(logDir)
	}}

	ctx, cancel := b.ctx()
	v, err := b.rt.Version(ctx, &runtimeapi.VersionRequest{})
	cancel()
	if err != nil {
		return e, fmt.Errorf("calling Version: %w", err)
	}
	r.Runtime = v.RuntimeName + " " + v.RuntimeVersion
	if o.pullOnly {
		return e, nil
	}
	if err := b.ensureImage(o.image); err != nil {
		return e, err
	}
	if _, _, err := b.startPod(nil); err != nil {
		return e, fmt.Errorf("warm-up: %w", err)
	}
	b.removeAll()
	return e, nil
}

// runAll measures every endpoint phase by phase: each phase runs on one endpoint right
// after the other (the lifecycle and pull phases alternate endpoints sample by sample), so
// that a shared machine's load, which drifts over minutes, weighs on every runtime alike.
// An endpoint that fails drops out of the later phases; its error is returned.
func runAll(o options, eps []*endpoint) map[*endpoint]error {
	errs := map[*endpoint]error{}
	live := func() []*endpoint {
		var out []*endpoint
		for _, e := range eps {
			if errs[e] == nil {
				out = append(out, e)
			}
		}
		return out
	}
	fail := func(e *endpoint, err error) {
		if err != nil && errs[e] == nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", e.r.Endpoint, err)
			errs[e] = err
		}
	}
	if o.density > 0 {
		for _, e := range live() {
			fmt.Fprintf(os.Stderr, "bench: %s\n", e.r.Endpoint)
			fail(e, e.b.runDensity(e.r, e.daemonPid))
		}
		return errs
	}

	if o.pullOnly {
		runPulls(o, live(), fail)
		return errs
	}

	// --running pods stay up on every endpoint during the lifecycle samples (a node is
	// rarely empty when kubelet starts a pod); both runtimes' pods run at once, so each
	// pays for the other's alike.
	for _, e := range live() {
		if o.running > 0 {
			progress(fmt.Sprintf("%s: %d pods kept running", e.r.Endpoint, o.running), o.running)
			for range o.running {
				if _, _, err := e.b.startPod(nil); err != nil {
					fail(e, fmt.Errorf("--running pods: %w", err))
					break
				}
			}
		}
	}
	progress("pod and container lifecycle, endpoints alternating", o.iterations)
	for range o.iterations {
		for _, e := range live() {
			_, ids, err := e.b.startPod(e.r)
			if err == nil {
				err = e.b.stopPod(ids, e.r)
			}
			fail(e, err)
		}
	}
	for _, e := range live() {
		e.b.removeAll()
	}

	for _, e := range live() {
		progress(e.r.Endpoint+": ExecSync", o.iterations)
		fail(e, e.b.measureExec(e.r))
	}

	if o.pullIterations > 0 {
		for _, e := range runPulls(o, live(), fail) {
			fail(e, e.b.ensureImage(o.image))
		}
	}

	for _, e := range live() {
		fail(e, e.b.measurePods(e.r, e.daemonPid))
	}
	return errs
}

// runPulls times --pull-iterations cold pulls of --pull-image, endpoints alternating pull by
// pull, and returns the endpoints it ran on. A failed pull loses that endpoint's pull figure
// only, unless the run is --pull-only, where it is the endpoint's failure.
func runPulls(o options, pulling []*endpoint, fail func(*endpoint, error)) []*endpoint {
	progress("PullImage "+o.pullImage+", endpoints alternating", o.pullIterations)
	total := map[*endpoint]time.Duration{}
	cpu := map[*endpoint]time.Duration{}
	size := map[*endpoint]uint64{}
	for i := range o.pullIterations {
		for _, e := range pulling {
			if total[e] < 0 {
				continue
			}
			el, used, n, err := e.b.pullOnce(e.r, i)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: no pull figure: %v\n", e.r.Endpoint, err)
				e.r.Errors = append(e.r.Errors, err.Error())
				if o.pullOnly {
					fail(e, err)
				}
				total[e] = -1
				continue
			}
			total[e] += el
			cpu[e] += used
			size[e] = n
		}
	}
	for _, e := range pulling {
		if total[e] > 0 {
			e.r.Pull = &PullResult{Image: o.pullImage, SizeBytes: size[e],
				MBPerSecond: float64(size[e]) * float64(o.pullIterations) / total[e].Seconds() / 1e6}
			if e.daemonPid > 0 {
				e.r.Pull.DaemonCPUMsPerPull = float64(cpu[e].Milliseconds()) / float64(o.pullIterations)
			}
		}
	}
	return pulling
}

// measureExec times ExecSync in one running container.
func (b *bench) measureExec(r *Result) error {
	_, ids, err := b.startPod(nil)
	if err != nil {
		return err
	}
	defer b.removeAll()
	for range b.o.iterations {
		ctx, cancel := b.ctx()
		t0 := time.Now()
		resp, err := b.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ids.ctr, Cmd: b.o.execCmd, Timeout: 30})
		el := time.Since(t0)
		cancel()
		if err != nil {
			return fmt.Errorf("ExecSync: %w", err)
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("ExecSync %q: exit %d: %s", b.o.execCmd, resp.ExitCode, resp.Stderr)
		}
		r.add("ExecSync", el)
	}
	return nil
}

// measurePods starts --pods pods, times List*/Status/stats with them running, reads the
// daemon's and the helpers' memory, and removes them.
func (b *bench) measurePods(r *Result, daemonPid int) error {
	o := b.o
	if daemonPid > 0 {
		time.Sleep(o.settle)
		r.Memory.Idle = readMem(daemonPid)
	}
	availBefore := memAvailableKB()

	progress(fmt.Sprintf("%s: %d pods", r.Endpoint, o.pods), o.pods)
	t0 := time.Now()
	var podList []podIDs
	for range o.pods {
		_, ids, err := b.startPod(nil)
		if err != nil {
			return err
		}
		podList = append(podList, ids)
	}
	r.StartAllSeconds = time.Since(t0).Seconds()
	r.Memory.Pods = o.pods

	progress(fmt.Sprintf("%s: List*/Status with %d pods", r.Endpoint, o.pods), o.iterations)
	if err := b.measureLists(r, podList, ""); err != nil {
		return err
	}
	time.Sleep(o.settle)
	if daemonPid > 0 {
		r.Memory.WithPods = readMem(daemonPid)
	}
	b.measureShims(r, podList)
	if a := memAvailableKB(); availBefore > 0 && a > 0 {
		r.Memory.MemAvailableDropPerPodKB = (availBefore - a) / int64(o.pods)
	}
	if r.Memory.WithPods.PssKB > 0 {
		r.Memory.PerPodKB = (r.Memory.WithPods.PssKB - r.Memory.Idle.PssKB + r.Memory.Shims.PssKB) / int64(o.pods)
	}

	t0 = time.Now()
	b.removeAll()
	r.RemoveAllSeconds = time.Since(t0).Seconds()
	return nil
}

func progress(what string, n int) {
	fmt.Fprintf(os.Stderr, "bench:   %s (%d)\n", what, n)
}

// ensureImage pulls ref unless the runtime has it.
func (b *bench) ensureImage(ref string) error {
	ctx, cancel := b.ctx()
	defer cancel()
	st, err := b.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
	if err != nil {
		return fmt.Errorf("ImageStatus %s: %w", ref, err)
	}
	if st.Image != nil {
		return nil
	}
	if _, err := b.is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		return fmt.Errorf("PullImage %s: %w", ref, err)
	}
	return nil
}

type podIDs struct {
	pod, ctr string
	cfg      *runtimeapi.PodSandboxConfig
}

// startPod runs a pod with one container; with r set it records each call's latency and
// their sum as "pod start".
func (b *bench) startPod(r *Result) (*runtimeapi.PodSandboxConfig, podIDs, error) {
	b.mu.Lock()
	b.seq++
	seq := b.seq
	b.mu.Unlock()
	name := fmt.Sprintf("bench-%s-%d", b.runID, seq)
	logDir := filepath.Join(b.logDir, name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, podIDs{}, err
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "crid-bench", Uid: name},
		Hostname:     name,
		LogDirectory: logDir,
		Labels:       map[string]string{"crid-bench": b.runID},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	if b.o.podCgroups {
		cfg.Linux.CgroupParent = fmt.Sprintf("/%s/pod%d", b.cgroupRoot(), seq)
	}
	ctx, cancel := b.ctx()
	defer cancel()
	t0 := time.Now()
	pr, err := b.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	t1 := time.Now()
	if err != nil {
		return nil, podIDs{}, fmt.Errorf("RunPodSandbox: %w", err)
	}
	b.mu.Lock()
	b.pods[pr.PodSandboxId] = true
	b.mu.Unlock()
	cr, err := b.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pr.PodSandboxId, SandboxConfig: cfg,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
			Image:    &runtimeapi.ImageSpec{Image: b.o.image},
			Command:  b.o.cmd,
			LogPath:  "c.log",
			Linux:    &runtimeapi.LinuxContainerConfig{},
		},
	})
	t2 := time.Now()
	if err != nil {
		return nil, podIDs{}, fmt.Errorf("CreateContainer: %w", err)
	}
	if _, err := b.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		return nil, podIDs{}, fmt.Errorf("StartContainer: %w", err)
	}
	t3 := time.Now()
	if r != nil {
		r.add("RunPodSandbox", t1.Sub(t0))
		r.add("CreateContainer", t2.Sub(t1))
		r.add("StartContainer", t3.Sub(t2))
		r.add("pod start (run+create+start)", t3.Sub(t0))
	}
	return cfg, podIDs{pod: pr.PodSandboxId, ctr: cr.ContainerId, cfg: cfg}, nil
}

// stopPod stops and removes the container, then the pod, recording each call.
func (b *bench) stopPod(ids podIDs, r *Result) error {
	ctx, cancel := b.ctx()
	defer cancel()
	steps := []struct {
		name string
		call func() error
	}{
		{"StopContainer", func() error {
			_, err := b.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ids.ctr, Timeout: 10})
			return err
		}},
		{"RemoveContainer", func() error {
			_, err := b.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ids.ctr})
			return err
		}},
		{"StopPodSandbox", func() error {
			_, err := b.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: ids.pod})
			return err
		}},
		{"RemovePodSandbox", func() error {
			_, err := b.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: ids.pod})
			return err
		}},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.call(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		r.add(s.name, time.Since(t0))
	}
	b.mu.Lock()
	delete(b.pods, ids.pod)
	b.mu.Unlock()
	return nil
}

// removeAll stops and removes every pod the bench made (errors only reported: it runs on
// the way out).
func (b *bench) removeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.pods {
		ctx, cancel := b.ctx()
		if _, err := b.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: StopPodSandbox %s: %v\n", id, err)
		} else if _, err := b.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: RemovePodSandbox %s: %v\n", id, err)
		}
		cancel()
		delete(b.pods, id)
	}
}

// pullOnce removes the pull image (so the pull is cold: the runtimes delete an image's
// content and layers with it) and times one pull; it returns the time and the image size
// as ImageStatus reports it, from which throughput is computed.
func (b *bench) pullOnce(r *Result, i int) (el, cpu time.Duration, size uint64, err error) {
	ref := &runtimeapi.ImageSpec{Image: b.o.pullImage}
	ctx, cancel := b.ctx()
	defer cancel()
	st, err := b.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: ref})
	if err == nil && st.Image != nil {
		_, err = b.is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: ref})
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("removing %s before pull %d: %w", b.o.pullImage, i, err)
	}
	cpu0 := daemonCPU(b.daemonPid)
	t0 := time.Now()
	_, err = b.is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: ref})
	el = time.Since(t0)
	cpu = daemonCPU(b.daemonPid) - cpu0
	if err != nil {
		return 0, 0, 0, fmt.Errorf("PullImage %s: %w", b.o.pullImage, err)
	}
	st, err = b.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: ref})
	if err != nil || st.Image == nil {
		return 0, 0, 0, fmt.Errorf("ImageStatus after pull: %v", err)
	}
	r.add("PullImage", el)
	return el, cpu, st.Image.Size, nil
}

// measureLists times the calls kubelet's relist and status loops make, with pods running;
// prefix starts each figure's name.
func (b *bench) measureLists(r *Result, pods []podIDs, prefix string) error {
	calls := []struct {
		name string
		call func(ctx context.Context, i int) error
	}{
		{"ListPodSandbox", func(ctx context.Context, _ int) error {
			resp, err := b.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
			if err == nil && len(resp.Items) < len(pods) {
				err = fmt.Errorf("%d pods listed, %d running", len(resp.Items), len(pods))
			}
			return err
		}},
		{"ListContainers", func(ctx context.Context, _ int) error {
			resp, err := b.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
			if err == nil && len(resp.Containers) < len(pods) {
				err = fmt.Errorf("%d containers listed, %d running", len(resp.Containers), len(pods))
			}
			return err
		}},
		{"PodSandboxStatus", func(ctx context.Context, i int) error {
			_, err := b.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pods[i%len(pods)].pod})
			return err
		}},
		{"ContainerStatus", func(ctx context.Context, i int) error {
			_, err := b.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: pods[i%len(pods)].ctr})
			return err
		}},
		{"ContainerStats", func(ctx context.Context, i int) error {
			_, err := b.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: pods[i%len(pods)].ctr})
			return err
		}},
		{"ListContainerStats", func(ctx context.Context, _ int) error {
			resp, err := b.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
			if err == nil && len(resp.Stats) < len(pods) {
				err = fmt.Errorf("stats of %d containers, %d running", len(resp.Stats), len(pods))
			}
			return err
		}},
		{"ListPodSandboxStats", func(ctx context.Context, _ int) error {
			resp, err := b.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
			if err == nil && len(resp.Stats) < len(pods) {
				err = fmt.Errorf("stats of %d pods, %d running", len(resp.Stats), len(pods))
			}
			return err
		}},
		{"ListImages", func(ctx context.Context, _ int) error {
			_, err := b.is.ListImages(ctx, &runtimeapi.ListImagesRequest{})
			return err
		}},
	}
	rqs := newRunQueues(b.daemonPid)
	defer rqs.close()
	for _, c := range calls {
		name := fmt.Sprintf("%s%s (%d pods)", prefix, c.name, len(pods))
		sp := &Split{ServerP50: -1, ServerP99: -1}
		before := b.scrape()
		for i := range b.o.iterations {
			ctx, cancel := b.ctx()
			rq := rqs.watch()
			t0 := time.Now()
			err := c.call(ctx, i)
			el := time.Since(t0)
			rqs.since(rq, sp)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			r.add(name, el)
		}
		// The calls of one figure run one after the other: the histogram's growth meanwhile
		// is theirs (and anything else calling the same method on that runtime).
		if after := b.scrape(); before != nil && after != nil {
			sp.ServerP50 = quantileMs(before[c.name], after[c.name], 0.5)
			sp.ServerP99 = quantileMs(before[c.name], after[c.name], 0.99)
		}
		if r.Split == nil {
			r.Split = map[string]*Split{}
		}
		r.Split[name] = sp
	}
	return nil
}

// scrape reads the runtime's request-duration histograms from --metrics; nil without it
// or on error (said once per call site's figure: the latencies are still worth having).
func (b *bench) scrape() map[string]histogram {
	if b.metrics == "" {
		return nil
	}
	h, err := scrapeDurations(b.metrics)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: --metrics: %v\n", err)
		return nil
	}
	return h
}

// measureShims sums the memory of the per-pod helper processes that belong to the bench's
// pods (their command line names a pod id: crid-monitor and containerd-shim both do).
func (b *bench) measureShims(r *Result, pods []podIDs) {
	ids := make([]string, 0, len(pods))
	for _, p := range pods {
		ids = append(ids, p.pod)
	}
	pids, err := shimPids(b.o.shimRegex, ids)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: --shim-regex: %v\n", err)
		return
	}
	r.Memory.ShimCount = len(pids)
	for _, pid := range pids {
		m := readMem(pid)
		r.Memory.Shims.RssKB += m.RssKB
		r.Memory.Shims.PssKB += m.PssKB
	}
	if len(pods) > 0 {
		r.Memory.ShimPssPerPodKB = r.Memory.Shims.PssKB / int64(len(pods))
		r.Memory.ShimRssPerPodKB = r.Memory.Shims.RssKB / int64(len(pods))
	}
}
