package monitor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crid-dev/crid/errdefs"

	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// StartOptions describe the monitor to start for a pod.
type StartOptions struct {
	PodID    string
	StateDir string // the pod's state dir; the monitor's socket and per-container state live here
	Binary   string // path of crid-monitor
	LogLevel string // "debug", "info" (default), "warn", "error"; the log is api.LogPath(StateDir)
	// MaxLogLine is the longest CRI log entry before a line is split into partial
	// entries; 0 = 16 KiB (containerd's max_container_log_line_size).
	MaxLogLine int
	// Overlay and IDMappedOverlay are the daemon's kernel probe (package
	// oci/kernel), so that monitors do not probe again; "" = probe themselves.
	Overlay         kernel.OverlayMount
	IDMappedOverlay kernel.IDMappedOverlay
	// NoMountSetattr and NoCloseRangeCloexec (with Overlay set): the kernel
	// lacks mount_setattr (5.12) or close_range's CLOEXEC flag (5.11), so
	// the executor takes their fallbacks.
	NoMountSetattr, NoCloseRangeCloexec bool
	// Runtime is an external OCI runtime the monitor drives for the pod's containers;
	// nil means the built-in executor.
	Runtime *Runtime
	// Idle is how long the monitor waits with nothing in flight before it hands the pod
	// to its C body (a much smaller process, same pid; any request brings the Go body
	// back); 0 never does. A monitor with an external Runtime never does.
	Idle time.Duration
	// IdleToGo (tests): the idle monitor re-executes its Go body through the handover
	// instead of the C body, to test the Go side of the round trip alone.
	IdleToGo bool
}

// Runtime is an OCI runtime binary (runc, crun...) and how to call it.
type Runtime struct {
	Path string   // absolute path of the binary
	Root string   // its state dir (--root)
	Args []string // global arguments before each command
}

// monitorEnv is a monitor's whole environment. api.DetachEnv: its C constructor
// forks it into its own session before Go starts, and the process started here
// exits. One P: the monitor mostly waits; fewer Ps mean fewer per-P caches and
// threads. No heap profile is ever read from a monitor: sampling from the first
// allocation on (runtime.MemProfileRate in main is too late for package
// initialisers) would touch the profiler's bucket table. One glibc malloc arena:
// cgo's thread start mallocs on every new thread, each of which would otherwise
// get an arena of its own.
var monitorEnv = []string{api.DetachEnv + "=1", "GOMAXPROCS=1", "GODEBUG=memprofilerate=0", "GLIBC_TUNABLES=glibc.malloc.arena_max=1"}

// Start spawns the pod's monitor and connects to it. The monitor is detached from
// the caller: crid-monitor forks once more into its own session and the first
// process exits at once (Start reaps it), so the monitor's parent is init (or the
// daemon's subreaper), never the daemon. Start returns when the monitor says "ok"
// on the readiness pipe (its socket listens), or why it failed to start. If a
// monitor already answers in StateDir, Start connects to it instead.
func Start(ctx context.Context, opts StartOptions) (*Client, error) {
	if opts.PodID == "" || opts.StateDir == "" || opts.Binary == "" {
		return nil, fmt.Errorf("monitor: pod id, state dir and binary are required: %w", errdefs.ErrInvalidArgument)
	}
	// A retried RunPodSandbox finds the monitor of its first attempt running.
	if c, err := Connect(ctx, opts.StateDir); err == nil {
		return c, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	args := append([]string{"monitor", opts.PodID, "--state-dir", opts.StateDir}, monitorArgs(opts)...)
	if err := launch(opts.Binary, args, w, r); err != nil {
		return nil, fmt.Errorf("monitor for pod %s: %w", opts.PodID, err)
	}
	return awaitReady(ctx, r, opts.PodID, opts.StateDir)
}

// monitorArgs are the options on a monitor's command line that are not its pod's: a
// spare is started with them.
func monitorArgs(opts StartOptions) []string {
	level := opts.LogLevel
	if level == "" {
		level = "info"
	}
	args := []string{"--log-level", level}
	if opts.MaxLogLine > 0 {
		args = append(args, "--max-log-line", strconv.Itoa(opts.MaxLogLine))
	}
	if opts.Idle > 0 {
		args = append(args, "--idle", opts.Idle.String())
		if opts.IdleToGo {
			args = append(args, "--idle-exec", "go")
		}
	}
	if opts.Overlay != "" {
		args = append(args, "--overlay", string(opts.Overlay), "--idmapped-overlay", string(opts.IDMappedOverlay),
			"--mount-setattr="+strconv.FormatBool(!opts.NoMountSetattr), "--close-range-cloexec="+strconv.FormatBool(!opts.NoCloseRangeCloexec))
	}
	if rt := opts.Runtime; rt != nil {
		args = append(args, "--runtime", rt.Path, "--runtime-root", rt.Root)
		for _, a := range rt.Args {
			args = append(args, "--runtime-arg="+a) // "=": an argument may start with "-"
		}
	}
	return args
}

// launch starts crid-monitor with args and fd3 as its fd 3 (closed here once the child
// has it) and reaps the launcher, which exits as soon as the monitor is detached. If
// the launcher failed, its reason is read from back, the daemon's end of fd3.
func launch(binary string, args []string, fd3, back *os.File) error {
	cmd := exec.Command(binary, args...)
	cmd.ExtraFiles = []*os.File{fd3}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	cmd.Env = monitorEnv
	err := cmd.Start()
	fd3.Close()
	if err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		b, _ := io.ReadAll(io.LimitReader(back, 4096))
		return fmt.Errorf("launcher: %v: %s: %w", err, strings.TrimSpace(string(b)), errdefs.ErrUnavailable)
	}
	return nil
}

// awaitReady reads the monitor's answer on r to its end and connects to the monitor
// if it is "ok". r is closed if ctx ends first: the monitor's write then fails and it
// exits.
func awaitReady(ctx context.Context, r *os.File, podID, stateDir string) (*Client, error) {
	// The monitor writes "ok" or why it failed, then closes the pipe.
	type result struct {
		msg string
		err error
	}
	ready := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, 4096))
		ready <- result{strings.TrimSpace(string(b)), err}
	}()
	select {
	case res := <-ready:
		if res.err != nil {
			return nil, fmt.Errorf("monitor for pod %s: %w", podID, res.err)
		}
		if res.msg != "ok" {
			if res.msg == "" {
				res.msg = "exited before it was ready (see " + stateDir + "/monitor/log)"
			}
			return nil, fmt.Errorf("monitor for pod %s: %s: %w", podID, res.msg, errdefs.ErrUnavailable)
		}
	case <-ctx.Done():
		// Closing our end makes the monitor's readiness write fail: it exits.
		r.Close()
		return nil, fmt.Errorf("monitor for pod %s: %w", podID, ctx.Err())
	}
	// "ok" is the monitor's proof that it answers: it is written once the socket
	// listens and the server is made. No List to prove it again, as Connect does for
	// a monitor found after a restart: one round trip less on RunPodSandbox's
	// critical path (about 7 ms at load 15 on two vCPUs). A monitor that dies after
	// its "ok" fails the first call instead.
	c := newClient(stateDir)
	go c.watchEvents()
	return c, nil
}
