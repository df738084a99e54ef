package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Goals of the density mode (issue 16.4), printed beside the figures.
const (
	goalListP99Ms   = 10
	goalStatsP99Ms  = 50
	goalDaemonRSSKB = 60 << 10
)

// DensityResult is the --density run: N pods started by W concurrent workers, measured
// with all of them running, then removed the same way and checked for leftovers.
type DensityResult struct {
	Pods          int     `json:"pods"`
	Workers       int     `json:"workers"`
	StartWallS    float64 `json:"start_wall_s"`
	RemoveWallS   float64 `json:"remove_wall_s"`
	DaemonWithAll Mem     `json:"daemon_with_all"`
	Helpers       Mem     `json:"helpers_total"`
	HelperCount   int     `json:"helpers"`
	// Curve is the runtime's memory as pods were added (one point every --density-step).
	Curve []MemPoint `json:"curve"`
	// Leftovers after every pod was removed: pods/containers still listed, helper
	// processes, mounts and cgroups naming a pod or container id of the run.
	Leftovers []string `json:"leftovers,omitempty"`
}

// MemPoint is the memory of the daemon and of the per-pod helpers with Pods running.
type MemPoint struct {
	Pods    int `json:"pods"`
	Daemon  Mem `json:"daemon"`
	Helpers Mem `json:"helpers"`
}

// runDensity starts o.density pods with o.workers workers, times List* and stats calls
// with all of them running, reads memory, removes them all with the same workers and
// looks for anything left behind.
func (b *bench) runDensity(r *Result, daemonPid int) error {
	o := b.o
	d := &DensityResult{Pods: o.density, Workers: o.workers}
	r.Density = d
	step := o.densityStep
	progress(fmt.Sprintf("density: start %d pods, %d workers", o.density, o.workers), o.density)

	var mu sync.Mutex // guards pods, d.Curve, r
	var pods []podIDs
	var firstErr error
	curve := make(chan int, o.density/max(step, 1)+2) // every send fits: none blocks under mu
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for n := range curve {
			mu.Lock()
			ids := make([]podIDs, len(pods))
			copy(ids, pods)
			mu.Unlock()
			p := MemPoint{Pods: n, Helpers: b.helperMem(ids, nil)}
			if daemonPid > 0 {
				p.Daemon = readMem(daemonPid)
			}
			mu.Lock()
			d.Curve = append(d.Curve, p)
			mu.Unlock()
		}
	}()
	if daemonPid > 0 {
		curve <- 0
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range o.density {
			next <- i
		}
	}()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for range next {
				t := time.Now()
				_, ids, err := b.startPod(nil)
				el := time.Since(t)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				pods = append(pods, ids)
				r.add("density: pod start (run+create+start)", el)
				if n := len(pods); daemonPid > 0 && step > 0 && n%step == 0 {
					curve <- n
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d.StartWallS = time.Since(t0).Seconds()
	close(curve)
	<-sampled
	if firstErr != nil {
		return fmt.Errorf("density: %d of %d pods started: %w", len(pods), o.density, firstErr)
	}

	progress(fmt.Sprintf("density: List*/stats with %d pods", len(pods)), o.iterations)
	if err := b.measureLists(r, pods, "density: "); err != nil {
		return err
	}
	time.Sleep(o.settle)
	if daemonPid > 0 {
		d.DaemonWithAll = readMem(daemonPid)
	}
	d.Helpers = b.helperMem(pods, &d.HelperCount)

	progress(fmt.Sprintf("density: remove %d pods, %d workers", len(pods), o.workers), len(pods))
	t0 = time.Now()
	todo := make(chan podIDs)
	go func() {
		defer close(todo)
		for _, p := range pods {
			todo <- p
		}
	}()
	var rmErr error
	for range o.workers {
		wg.Go(func() {
			for p := range todo {
				t := time.Now()
				err := b.removePod(p.pod)
				el := time.Since(t)
				mu.Lock()
				if err != nil && rmErr == nil {
					rmErr = err
				}
				r.add("density: pod stop+remove", el)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d.RemoveWallS = time.Since(t0).Seconds()
	if rmErr != nil {
		return fmt.Errorf("density: removing: %w", rmErr)
	}
	d.Leftovers = b.leftovers(pods)
	if len(d.Leftovers) > 0 {
		return fmt.Errorf("density: %d leftovers after removing every pod: %s", len(d.Leftovers), strings.Join(d.Leftovers, "; "))
	}
	return nil
}

// removePod stops and removes one pod (its containers go with it).
func (b *bench) removePod(id string) error {
	ctx, cancel := b.ctx()
	defer cancel()
	if _, err := b.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", id, err)
	}
	if _, err := b.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("RemovePodSandbox %s: %w", id, err)
	}
	b.mu.Lock()
	delete(b.pods, id)
	b.mu.Unlock()
	return nil
}

// helperMem sums the PSS and RSS of the per-pod helper processes of pods; n, when set,
// gets their count.
func (b *bench) helperMem(pods []podIDs, n *int) Mem {
	ids := make([]string, 0, len(pods))
	for _, p := range pods {
		ids = append(ids, p.pod)
	}
	pids, err := shimPids(b.o.shimRegex, ids)
	if err != nil {
		return Mem{}
	}
	var m Mem
	for _, pid := range pids {
		x := readMem(pid)
		m.RssKB += x.RssKB
		m.PssKB += x.PssKB
	}
	if n != nil {
		*n = len(pids)
	}
	return m
}

// leftovers looks, for up to 10 s (processes and mounts may go a moment after the
// call returns), for what the removed pods left: pods and containers the runtime still
// lists, helper processes naming a pod id, mounts and cgroup directories naming a pod or
// container id.
func (b *bench) leftovers(pods []podIDs) []string {
	ids := map[string]bool{}
	for _, p := range pods {
		ids[p.pod], ids[p.ctr] = true, true
	}
	var out []string
	for try := 0; try < 20; try++ {
		out = out[:0]
		ctx, cancel := b.ctx()
		lp, err := b.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{
			Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"crid-bench": b.runID}}})
		if err != nil {
			out = append(out, "ListPodSandbox: "+err.Error())
		} else if len(lp.Items) > 0 {
			out = append(out, fmt.Sprintf("%d pods still listed", len(lp.Items)))
		}
		lc, err := b.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		cancel()
		if err != nil {
			out = append(out, "ListContainers: "+err.Error())
		} else {
			n := 0
			for _, c := range lc.Containers {
				if ids[c.Id] {
					n++
				}
			}
			if n > 0 {
				out = append(out, fmt.Sprintf("%d containers still listed", n))
			}
		}
		podList := make([]string, 0, len(pods))
		for _, p := range pods {
			podList = append(podList, p.pod)
		}
		if pids, _ := shimPids(b.o.shimRegex, podList); len(pids) > 0 {
			out = append(out, fmt.Sprintf("%d helper processes: %v", len(pids), pids))
		}
		if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
			n := 0
			for _, l := range strings.Split(string(mi), "\n") {
				if namesAny(l, ids) {
					n++
				}
			}
			if n > 0 {
				out = append(out, fmt.Sprintf("%d mounts", n))
			}
		}
		if dirs := cgroupsNaming(ids); len(dirs) > 0 {
			out = append(out, fmt.Sprintf("%d cgroups: %s", len(dirs), strings.Join(dirs[:min(3, len(dirs))], " ")))
		}
		if len(out) == 0 {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return out
}

// namesAny tells whether s contains one of the 64-hex ids (looked up by each 64-hex run
// in s, so the cost does not grow with the number of ids).
func namesAny(s string, ids map[string]bool) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') {
			run++
			if run >= 64 && ids[s[i-63:i+1]] {
				return true
			}
			continue
		}
		run = 0
	}
	return false
}

// cgroupsNaming lists cgroup directories (down to 6 levels in the memory hierarchy on
// v1, the unified one on v2) whose path names one of ids.
func cgroupsNaming(ids map[string]bool) []string {
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(root); err != nil {
		root = "/sys/fs/cgroup"
	}
	var out []string
	_ = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fs.SkipDir
		}
		if !de.IsDir() {
			return nil
		}
		if strings.Count(strings.TrimPrefix(p, root), "/") > 6 {
			return fs.SkipDir
		}
		if namesAny(de.Name(), ids) {
			out = append(out, p)
			return fs.SkipDir
		}
		return nil
	})
	return out
}

// printDensity prints the density figures with the goals beside them.
func printDensity(w io.Writer, r *Result) {
	d := r.Density
	if d == nil {
		return
	}
	p99 := func(name string) float64 {
		if s := r.Latency["density: "+name+fmt.Sprintf(" (%d pods)", d.Pods)]; s != nil {
			return s.P99
		}
		return -1
	}
	fmt.Fprintf(w, "density: %d pods, %d workers: started in %.1f s (p99 per pod %.0f ms), removed in %.1f s\n",
		d.Pods, d.Workers, d.StartWallS, r.Latency["density: pod start (run+create+start)"].P99, d.RemoveWallS)
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "OVER"
	}
	lp, lc := p99("ListPodSandbox"), p99("ListContainers")
	cs, ps := p99("ListContainerStats"), p99("ListPodSandboxStats")
	fmt.Fprintf(w, "density: List* p99 %.1f / %.1f ms (goal <= %d: %s); stats p99 %.1f / %.1f ms (goal <= %d: %s)\n",
		lp, lc, goalListP99Ms, mark(max(lp, lc) <= goalListP99Ms), cs, ps, goalStatsP99Ms, mark(max(cs, ps) <= goalStatsP99Ms))
	if r.DaemonPid > 0 {
		fmt.Fprintf(w, "density: daemon RSS %s (goal <= %s: %s), PSS %s; ", mib(d.DaemonWithAll.RssKB), mib(goalDaemonRSSKB),
			mark(d.DaemonWithAll.RssKB <= goalDaemonRSSKB), mib(d.DaemonWithAll.PssKB))
	}
	fmt.Fprintf(w, "%d helpers: total PSS %s (%s per pod)\n", d.HelperCount, mib(d.Helpers.PssKB), mib(d.Helpers.PssKB/int64(max(d.Pods, 1))))
	if len(d.Leftovers) == 0 {
		fmt.Fprintln(w, "density: nothing left after removal (pods, containers, helpers, mounts, cgroups)")
	} else {
		fmt.Fprintf(w, "density: LEFT AFTER REMOVAL: %s\n", strings.Join(d.Leftovers, "; "))
	}
}
