// Command crid-monitor is the per-pod monitor started by crid (package
// oci/monitor, server in oci/monitor/server), the container init and the pod
// infra process. It is its own small binary so that each pod's monitor costs
// little memory: it must not link gRPC, k8s or prometheus (go list -deps).
//
//	crid-monitor monitor <pod-id> --state-dir DIR [--log-level LEVEL] [--max-log-line BYTES] [--idle D]
//	crid-monitor spare [--log-level LEVEL] [...]  (a monitor started ahead, for the next pod: spare.go)
//	crid-monitor init     (started by the executor in a container's namespaces)
//	crid-monitor pause    (the pod infra process)
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/oci/monitor/server"
	// An idle monitor execs itself into this package's C steady state (same
	// pid, _CRID_SUPERVISE); its constructor must be in the binary.
	_ "github.com/crid-dev/crid/oci/monitor/supervise"
)

// forkedFlag marks the second process: the first one (crid's child) only starts
// it in a new session and exits, so crid never has to reap the monitor.
const forkedFlag = "--forked"

func main() {
	// No heap profile is ever read from a monitor; sampling would allocate the
	// profiler's bucket table (1.4 MiB of virtual memory, some of it touched).
	runtime.MemProfileRate = 0
	// The executor re-executes this binary for the container init and the pause
	// process: dispatch before anything else starts (see package oci).
	dispatchExecutorModes()

	var podID string
	var flagArgs []string
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "monitor":
		podID, flagArgs = os.Args[2], os.Args[3:]
	case len(os.Args) >= 2 && os.Args[1] == api.SpareArg:
		keepArgRegion()
		flagArgs = os.Args[2:]
	default:
		fmt.Fprintln(os.Stderr, "usage: crid-monitor monitor <pod-id> --state-dir DIR [--log-level LEVEL] (started by crid)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("monitor", flag.ExitOnError)
	stateDir := fs.String("state-dir", "", "the pod's state dir")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	maxLogLine := fs.Int("max-log-line", 0, "longest CRI log entry before splitting (0 = 16 KiB)")
	overlay := fs.String("overlay", "", "how this kernel mounts an overlay rootfs (crid's probe; empty = probe)")
	idmappedOverlay := fs.String("idmapped-overlay", "", "how this kernel builds an overlay on idmapped layers (crid's probe)")
	mountSetattr := fs.Bool("mount-setattr", true, "the kernel has mount_setattr (crid's probe, with --overlay)")
	closeRangeCloexec := fs.Bool("close-range-cloexec", true, "close_range takes CLOSE_RANGE_CLOEXEC (crid's probe, with --overlay)")
	forked := fs.Bool(forkedFlag[2:], false, "internal: this is the detached monitor")
	idle := fs.Duration("idle", 0, "hand the pod to the monitor's C body after this long with nothing in flight (0 = never)")
	idleExec := fs.String("idle-exec", "c", "internal, for tests: \"go\" re-executes the Go body through the handover instead")
	resume := fs.Int(server.ResumeFlag[2:], -1, "internal: the memfd of a handover from the monitor's other body")
	rt := addRuntimeFlags(fs)
	_ = fs.Parse(flagArgs)
	spare := os.Args[1] == api.SpareArg
	if !spare && (podID == "" || *stateDir == "") {
		fmt.Fprintln(os.Stderr, "crid-monitor: pod id and --state-dir are required")
		os.Exit(2)
	}
	var kern *kernel.Features
	if *overlay != "" {
		kern = &kernel.Features{Overlay: kernel.OverlayMount(*overlay), IDMappedOverlay: kernel.IDMappedOverlay(*idmappedOverlay),
			MountSetattr: *mountSetattr, CloseRangeCloexec: *closeRangeCloexec}
	}
	sw := switchOptions{idle: *idle, toGo: *idleExec == "go", argv: argvWithoutResume(os.Args)}
	if v, ok := os.LookupEnv(api.HandoverEnv); ok {
		// Exec'd for the C body, which did not take over (not linked in, or it
		// declined): the handover is the Go body's to resume from.
		os.Unsetenv(api.HandoverEnv)
		if fd, err := strconv.Atoi(v); err == nil && *resume < 0 {
			*resume = fd
		}
	}
	if *resume >= 0 {
		// The same process, re-executed by its other body: no detach, no readiness
		// pipe (fd 3 is whatever the handover says), the listener is inherited.
		os.Exit(runResumed(podID, *stateDir, *logLevel, *maxLogLine, kern, rt, sw, *resume))
	}
	// fd 3 is the readiness pipe from crid: never leak it into containers.
	ready := os.NewFile(3, "ready")
	unix.CloseOnExec(3)
	if os.Getenv(api.DetachEnv) == "1" {
		// launch.c forked this process into its own session before Go started; what
		// the monitor execs (its other body, an OCI runtime) must not fork again.
		os.Unsetenv(api.DetachEnv)
		*forked = true
	}
	if spare {
		if !*forked {
			fmt.Fprintln(ready, "a spare monitor is started with "+api.DetachEnv+"=1")
			os.Exit(2)
		}
		os.Exit(runSpare(*logLevel, *maxLogLine, kern, rt, sw, ready))
	}
	if !*forked {
		// Started without api.DetachEnv (by an older crid during an upgrade): detach
		// the Go way, by re-executing this binary.
		if err := detach(); err != nil {
			fmt.Fprintf(ready, "detach: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	executor, attach := rt.executor(newExecutor(kern))
	os.Exit(run(podID, *stateDir, *logLevel, *maxLogLine, executor, attach, sw, ready, nil))
}

// switchOptions say when and how the monitor hands its pod to its C body.
type switchOptions struct {
	idle time.Duration
	toGo bool // tests: the Go body resumes itself through the handover
	argv []string
}

func (o switchOptions) config(cfg server.Config) server.Config {
	cfg.Idle, cfg.Argv, cfg.Switch = o.idle, o.argv, server.SwitchExec(o.toGo)
	return cfg
}

// argvWithoutResume is the command line to exec the Go body with again.
func argvWithoutResume(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == server.ResumeFlag || args[i] == "-"+server.ResumeFlag[2:]:
			i++
		case strings.HasPrefix(args[i], server.ResumeFlag+"="):
		default:
			out = append(out, args[i])
		}
	}
	return out
}

// detach starts the real monitor in its own session and returns: the caller
// exits, so the monitor is reparented to init (or crid's subreaper).
func detach() error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	// Whatever crid leaked to us without close-on-exec stops here: the monitor
	// gets stdio and the readiness pipe only.
	if unix.CloseRange(4, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) != nil {
		// Before 5.11: mark each fd the host's procfs lists.
		if names, err := os.ReadDir("/proc/self/fd"); err == nil {
			for _, n := range names {
				if fd, err := strconv.Atoi(n.Name()); err == nil && fd >= 4 {
					unix.CloseOnExec(fd)
				}
			}
		}
	}
	args := append(append([]string{}, os.Args...), forkedFlag)
	// One P: the monitor mostly waits; fewer Ps mean fewer per-P caches and threads.
	// No heap profile is ever read from a monitor: sampling from the first
	// allocation on (runtime.MemProfileRate in main is too late for package
	// initialisers) would touch the profiler's bucket table. One glibc malloc
	// arena: cgo's thread start mallocs on every new thread, each of which would
	// otherwise get an arena of its own.
	env := []string{"GOMAXPROCS=1", "GODEBUG=memprofilerate=0", "GLIBC_TUNABLES=glibc.malloc.arena_max=1"}
	p, err := os.StartProcess("/proc/self/exe", args, &os.ProcAttr{ //nolint:gosec // G702: re-executes itself with its own arguments
		Dir:   "/",
		Env:   env,
		Files: []*os.File{null, null, null, os.NewFile(3, "ready")},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return err
	}
	return p.Release()
}

// setup is what every body of the Go monitor does first: heap goals and its log.
func setup(podID, stateDir, level string) (*slog.Logger, error) {
	heapGoals()
	if err := os.MkdirAll(api.ContainersDir(stateDir), 0o700); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(api.LogPath(stateDir), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	// Panics and runtime errors land in the log too.
	_ = unix.Dup2(int(logf.Fd()), 2)
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: lv})).With("pod", podID), nil
}

// heapGoals are small: the monitor's live heap is tens of KiB; the default GOGC
// would let it grow to the 4 MiB minimum goal before collecting.
func heapGoals() {
	debug.SetGCPercent(25)
	debug.SetMemoryLimit(8 << 20)
}

// runResumed continues the monitor from a handover (see server.Resume).
func runResumed(podID, stateDir, level string, maxLogLine int, kern *kernel.Features, rt *runtimeFlags, sw switchOptions, fd int) int {
	log, err := setup(podID, stateDir, level)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crid-monitor:", err)
		return 1
	}
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
	h, err := server.ReadHandover(fd)
	if err != nil {
		// The containers are still this process's children, but nothing describes
		// them: exit, and crid's Cleanup takes the pod down as after a crash.
		log.Error("resume", "err", err)
		return 1
	}
	if !sw.toGo && h.Conn <= 0 && h.Signal == 0 {
		// The C body handed the pod back unasked: it cannot take this one (a handover
		// past its fixed tables, a failure) or is not linked in. It would again at
		// every idle period, two execs each: stay in Go.
		log.Warn("the C body handed the pod back unasked: no more switches")
		sw.idle = 0
	}
	executor, attach := rt.executor(newExecutor(kern))
	srv, l, err := server.Resume(sw.config(server.Config{
		PodID: podID, StateDir: stateDir, Executor: executor, Logger: log, MaxLogLine: maxLogLine,
	}), h)
	if err != nil {
		log.Error("resume", "err", err)
		return 1
	}
	attach(srv)
	log.Debug("monitor resumed", "containers", len(h.Containers), "conn", h.Conn > 0)
	return serve(srv, l, stateDir, log)
}

// run serves the pod; cmdlineErr is why ps does not show its command line as sw.argv
// (an adopted spare's rewrite failed), which its log says.
func run(podID, stateDir, level string, maxLogLine int, executor server.Executor, attach func(*server.Server), sw switchOptions, ready *os.File, cmdlineErr error) int {
	fail := func(format string, args ...any) int {
		msg := fmt.Sprintf(format, args...)
		fmt.Fprintln(ready, msg)
		fmt.Fprintln(os.Stderr, "crid-monitor:", msg)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail("set child subreaper: %v", err)
	}
	log, err := setup(podID, stateDir, level)
	if err != nil {
		return fail("%v", err)
	}

	// One monitor per pod: a live one (same pid and start time) owns the socket.
	if pid, start, err := api.ReadPidFile(stateDir); err == nil && pid != os.Getpid() {
		if st, err := api.ProcStartTime(pid); err == nil && st == start {
			return fail("a monitor (pid %d) already runs for this pod", pid)
		}
	}
	l, err := server.Listen(stateDir)
	if err != nil {
		return fail("listen: %v", err)
	}
	if err := api.WritePidFile(stateDir, os.Getpid()); err != nil {
		return fail("pid file: %v", err)
	}
	// The monitor must outlive a terminal or a ^C aimed at crid.
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)

	srv := server.New(sw.config(server.Config{
		PodID: podID, StateDir: stateDir, Executor: executor, Logger: log, MaxLogLine: maxLogLine,
	}))
	attach(srv)
	if _, err := fmt.Fprintln(ready, "ok"); err != nil {
		// crid gave up waiting (its context ended): nobody will use this monitor.
		os.RemoveAll(api.SocketPath(stateDir))
		return 1
	}
	ready.Close()
	log.Info("monitor started", "pid", os.Getpid())
	if cmdlineErr != nil {
		// Tools that find a pod's monitor by "crid-monitor monitor <pod id>" miss it.
		log.Warn("ps shows this monitor as the spare it was until its first idle switch", "err", cmdlineErr)
	}
	return serve(srv, l, stateDir, log)
}

func serve(srv *server.Server, l net.Listener, stateDir string, log *slog.Logger) int {
	if err := srv.Serve(l); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	log.Info("monitor shut down")
	os.RemoveAll(api.Dir(stateDir))
	return 0
}
