package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func newTopCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "Display the running processes of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			e, err := c.lookup(ctx, args[0], true, false)
			if err != nil {
				return err
			}
			if e.ctr.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
				return fmt.Errorf("container %s is not running", args[0])
			}
			pid, err := c.containerPid(ctx, e.containerID())
			if err != nil {
				return err
			}
			procs, err := processesLike(pid)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "UID\tPID\tPPID\tSTIME\tTIME\tCMD")
			for _, p := range procs {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\n", p.uid, p.pid, p.ppid, p.start.Format("15:04"), p.cpu, p.cmd)
			}
			return tw.Flush()
		},
	}
}

// containerPid is the container's main pid on this host, from the verbose status info
// (crid and containerd both report it as "pid"). top reads the processes from /proc, as
// docker top does on the daemon's host.
func (c *client) containerPid(ctx context.Context, id string) (int, error) {
	resp, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		return 0, rpcError("container status", err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if raw := resp.GetInfo()["info"]; raw != "" {
		_ = json.Unmarshal([]byte(raw), &info) // no pid: refused below
	}
	if info.Pid <= 0 {
		return 0, errors.New("the runtime does not report the container's pid (verbose ContainerStatus info)")
	}
	return info.Pid, nil
}

type process struct {
	uid, pid, ppid int
	start          time.Time
	cpu            time.Duration
	cmd            string
}

// processesLike lists the host's processes in the same cgroups as pid: the container's.
func processesLike(pid int) ([]process, error) {
	want, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, fmt.Errorf("container process %d: %w", pid, err)
	}
	boot := bootTime()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []process
	for _, d := range dirs {
		cg, err := os.ReadFile(d + "/cgroup")
		if err != nil || !bytes.Equal(cg, want) {
			continue
		}
		p, ok := readProcess(d, boot)
		if ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func readProcess(dir string, boot time.Time) (process, bool) {
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return process{}, false
	}
	// The command name in parentheses may hold spaces: split after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return process{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return process{}, false
	}
	var p process
	p.pid, _ = strconv.Atoi(filepath.Base(dir))
	p.ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	startTicks, _ := strconv.ParseInt(f[19], 10, 64)
	p.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	p.start = boot.Add(time.Duration(startTicks) * time.Second / clockTicks)
	if st, err := os.Stat(dir); err == nil {
		p.uid = statUID(st)
	}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	p.cmd = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	if p.cmd == "" {
		p.cmd = "[" + string(stat[bytes.IndexByte(stat, '(')+1:i]) + "]"
	}
	return p, true
}

func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}

func statUID(st os.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}
