package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func newStatsCommand(g *globals) *cobra.Command {
	var noStream, all bool
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			w := cmd.OutOrStdout()
			live := !noStream && isTerminalWriter(w)
			return c.stats(cmd.Context(), w, args, all, noStream, live)
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print one sample and exit")
	addAllNamespaces(cmd, &all)
	return cmd
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// statsSample is one reading of a container's usage.
type statsSample struct {
	at        time.Time
	cpuNanos  uint64
	mem, limt uint64
	rx, tx    uint64
	pids      uint64
}

// statsInterval is how often the table is refreshed, as docker does.
const statsInterval = time.Second

func (c *client) stats(ctx context.Context, w io.Writer, refs []string, all, once, live bool) error {
	prev := map[string]statsSample{}
	hostMem := hostMemory()
	sample := func() ([]*entry, map[string]statsSample, error) {
		var list []*entry
		if len(refs) == 0 {
			es, err := c.listEntries(ctx, all)
			if err != nil {
				return nil, nil, err
			}
			for _, e := range es {
				if e.ctr.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING {
					list = append(list, e)
				}
			}
		} else {
			for _, r := range refs {
				e, err := c.lookup(ctx, r, true, false)
				if err != nil {
					return nil, nil, err
				}
				list = append(list, e)
			}
		}
		now := map[string]statsSample{}
		for _, e := range list {
			if e.ctr == nil {
				continue
			}
			if s, ok := c.sampleOne(ctx, e, hostMem); ok {
				now[e.ID()] = s
			}
		}
		return list, now, nil
	}
	if _, first, err := sample(); err == nil {
		prev = first
	}
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	if once {
		tick.Reset(statsInterval / 2)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		list, cur, err := sample()
		if err != nil {
			return err
		}
		var b strings.Builder
		if live {
			b.WriteString("\x1b[2J\x1b[H") // clear and home: the table is redrawn in place
		}
		tw := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tPIDS")
		for _, e := range list {
			s, ok := cur[e.ID()]
			if !ok {
				continue
			}
			cpu := "--"
			if p, ok := prev[e.ID()]; ok && s.at.After(p.at) && s.cpuNanos >= p.cpuNanos {
				cpu = fmt.Sprintf("%.2f%%", float64(s.cpuNanos-p.cpuNanos)/float64(s.at.Sub(p.at).Nanoseconds())*100)
			}
			memPct := 0.0
			if s.limt > 0 {
				memPct = float64(s.mem) / float64(s.limt) * 100
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%.2f%%\t%s / %s\t%d\n", short(e.ID()), e.Name(), cpu,
				units.BytesSize(float64(s.mem)), units.BytesSize(float64(s.limt)), memPct,
				units.HumanSize(float64(s.rx)), units.HumanSize(float64(s.tx)), s.pids)
		}
		tw.Flush()
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		prev = cur
		if once {
			return nil
		}
	}
}

// sampleOne reads a container's CPU and memory (ContainerStats) and its pod's network and
// process count (PodSandboxStats: one container per pod, so the pod's are its).
func (c *client) sampleOne(ctx context.Context, e *entry, hostMem uint64) (statsSample, bool) {
	cs, err := c.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: e.containerID()})
	if err != nil {
		return statsSample{}, false
	}
	st := cs.GetStats()
	s := statsSample{
		at:       time.Unix(0, st.GetCpu().GetTimestamp()),
		cpuNanos: st.GetCpu().GetUsageCoreNanoSeconds().GetValue(),
		mem:      st.GetMemory().GetWorkingSetBytes().GetValue(),
		limt:     hostMem,
	}
	if s.at.IsZero() || st.GetCpu().GetTimestamp() == 0 {
		s.at = time.Now()
	}
	if status, err := c.containerStatus(ctx, e.containerID()); err == nil {
		if l := status.GetResources().GetLinux().GetMemoryLimitInBytes(); l > 0 {
			s.limt = uint64(l)
		}
	}
	if ps, err := c.rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: e.pod.GetId()}); err == nil {
		l := ps.GetStats().GetLinux()
		for _, i := range append([]*runtimeapi.NetworkInterfaceUsage{l.GetNetwork().GetDefaultInterface()}, l.GetNetwork().GetInterfaces()...) {
			if i != nil {
				s.rx += i.GetRxBytes().GetValue()
				s.tx += i.GetTxBytes().GetValue()
				break
			}
		}
		s.pids = l.GetProcess().GetProcessCount().GetValue()
	}
	return s, true
}

// hostMemory is the limit docker shows for a container without one: the host's memory.
func hostMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
