package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/oci/monitor/server"
)

// An external OCI runtime (runc, crun...) as the monitor's executor, driven through its
// command line the way conmon drives runc: `create --bundle --pid-file
// [--console-socket]`, `start`, `exec --process --pid-file -d`, `update --resources`,
// `delete --force`. The monitor stays what it is for the built-in executor: the
// subreaper the containers are reparented to when the runtime's command exits, the
// holder of their stdio (pipes passed through the runtime, or the pty master it sends
// to the console socket), their CRI log, exit status, exec and attach. It signals the
// processes itself (it reaps them, so a pid it signals is never a reused one), and it
// reads OOM kills and process lists from the cgroup the spec names, as the built-in
// executor does. The pod's infra (namespaces and pause) stays the built-in executor's:
// the containers join its namespaces by path, as CRI-O's containers join pinned ones.

// runtimeFlags are crid-monitor's flags naming an external runtime.
type runtimeFlags struct {
	path, root string
	args       stringList
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func addRuntimeFlags(fs *flag.FlagSet) *runtimeFlags {
	f := &runtimeFlags{}
	fs.StringVar(&f.path, "runtime", "", "an external OCI runtime binary to run the pod's containers (empty: the built-in executor)")
	fs.StringVar(&f.root, "runtime-root", "", "the external runtime's state dir (its --root)")
	fs.Var(&f.args, "runtime-arg", "a global argument of the external runtime (repeatable)")
	return f
}

// executor returns builtin, or the external runtime over it; attach gives the external
// one the server's RunChild once the server exists.
func (f *runtimeFlags) executor(builtin server.Executor) (ex server.Executor, attach func(*server.Server)) {
	if f.path == "" {
		return builtin, func(*server.Server) {}
	}
	e := &runtimeExecutor{path: f.path, root: f.root, args: f.args, builtin: builtin, ctrs: map[*specs.Spec]*runtimeContainer{}}
	return e, func(s *server.Server) { e.run = s.RunChild }
}

// runtimeExecutor implements server.Executor with an OCI runtime binary.
type runtimeExecutor struct {
	path, root string
	args       []string
	builtin    server.Executor // the pod infra; OOM and process lists from the cgroup
	run        func(ctx context.Context, path string, args []string, attr *os.ProcAttr) (unix.WaitStatus, error)

	mu   sync.Mutex
	ctrs map[*specs.Spec]*runtimeContainer // by the spec the server passes for the container
}

// RunsPostHooks: the runtime runs every hook of the bundle's config.json, poststart at
// its start and poststop at its delete (server.PostHooksRunner).
func (e *runtimeExecutor) RunsPostHooks() bool { return true }

// runtimeContainer is what the runtime was told about one container.
type runtimeContainer struct {
	id, bundle string
	rootfs     []string // mounted for the runtime, unmounted by Destroy
	systemd    bool     // the spec's cgroup is a systemd unit (slice:prefix:name)
}

// bundleSpecVersion is the ociVersion of the bundles given to external runtimes.
const bundleSpecVersion = "1.1.0"

// runtimeTimeout bounds one runtime command: a hung runtime must not hold the pod.
const runtimeTimeout = 2 * time.Minute

func (e *runtimeExecutor) Create(ctx context.Context, o server.CreateOptions) (_ *server.Created, retErr error) {
	bundle := o.StateDir
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, err
	}
	rc := &runtimeContainer{id: o.ID, bundle: bundle}
	if l := o.Spec.Linux; l != nil && l.CgroupsPath != "" && !strings.HasPrefix(l.CgroupsPath, "/") {
		rc.systemd = true
	}
	// Recorded before anything is made, so that the daemon's Cleanup can delete the
	// container from the runtime and unmount its rootfs should this monitor die.
	if err := api.WriteExternalRuntime(filepath.Dir(bundle), &api.ExternalRuntime{
		Path: e.path, Root: e.root, Args: e.args, SystemdCgroup: rc.systemd,
	}); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			if err := e.remove(rc); err != nil {
				retErr = fmt.Errorf("%w (and undoing the create: %v)", retErr, err)
			}
		}
	}()
	// The runtime is given a mounted rootfs directory (the bundle's root.path), as
	// containerd's shim gives runc one; the built-in executor mounts it itself inside
	// the container's mount namespace.
	for _, m := range o.Rootfs {
		if err := mountRootfs(m); err != nil {
			return nil, fmt.Errorf("container %s: rootfs: %w", o.ID, err)
		}
		rc.rootfs = append(rc.rootfs, m.Destination)
	}
	bundleSpec := *o.Spec
	// crid writes the runtime-spec version it was built with (1.3); runtimes refuse a
	// version newer than theirs (crun 1.8: "unknown version specified") although crid's
	// specs use nothing past 1.1, which runc and crun both take.
	bundleSpec.Version = bundleSpecVersion
	b, err := json.Marshal(&bundleSpec)
	if err != nil {
		return nil, err
	}
	if err := api.WriteFileAtomic(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return nil, err
	}
	pidFile := filepath.Join(bundle, "pid")
	args := []string{"create", "--bundle", bundle, "--pid-file", pidFile}
	stdio := o.Stdio
	var cs *consoleSocket
	if o.Spec.Process.Terminal {
		if cs, err = newConsoleSocket(); err != nil {
			return nil, err
		}
		defer cs.Close()
		args = append(args, "--console-socket", cs.Path())
		stdio = server.Stdio{} // the container's stdio is the pty the runtime makes
	}
	if err := e.command(ctx, rc, stdio, append(args, o.ID)...); err != nil {
		return nil, err
	}
	pid, err := readPid(pidFile)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", o.ID, err)
	}
	var console *os.File
	if cs != nil {
		if console, err = cs.Receive(10 * time.Second); err != nil {
			return nil, fmt.Errorf("container %s: the runtime's pty: %w", o.ID, err)
		}
	}
	e.mu.Lock()
	e.ctrs[o.Spec] = rc
	e.mu.Unlock()
	return &server.Created{Pid: pid, Console: console, Start: func() error {
		return e.command(context.Background(), rc, server.Stdio{}, "start", o.ID)
	}}, nil
}

func (e *runtimeExecutor) Exec(ctx context.Context, o server.ExecOptions) (int, *os.File, error) {
	rc := e.container(o.Spec)
	if rc == nil {
		return 0, nil, fmt.Errorf("exec: the container is not one this runtime created")
	}
	b, err := json.Marshal(o.Process)
	if err != nil {
		return 0, nil, err
	}
	// Per exec: several may start at once in one container.
	tmp, err := os.MkdirTemp(rc.bundle, "exec-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(tmp)
	procFile, pidFile := filepath.Join(tmp, "process.json"), filepath.Join(tmp, "pid")
	if err := os.WriteFile(procFile, b, 0o600); err != nil {
		return 0, nil, err
	}
	args := []string{"exec", "--process", procFile, "--pid-file", pidFile, "--detach"}
	stdio := o.Stdio
	var cs *consoleSocket
	if o.Process.Terminal {
		if cs, err = newConsoleSocket(); err != nil {
			return 0, nil, err
		}
		defer cs.Close()
		args = append(args, "--console-socket", cs.Path())
		stdio = server.Stdio{}
	}
	if err := e.command(ctx, rc, stdio, append(args, rc.id)...); err != nil {
		return 0, nil, err
	}
	pid, err := readPid(pidFile)
	if err != nil {
		return 0, nil, fmt.Errorf("exec in %s: %w", rc.id, err)
	}
	var console *os.File
	if cs != nil {
		if console, err = cs.Receive(10 * time.Second); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			return 0, nil, fmt.Errorf("exec in %s: the runtime's pty: %w", rc.id, err)
		}
	}
	return pid, console, nil
}

// CreatePodInfra: the pod's namespaces and pause are crid's own in every handler.
func (e *runtimeExecutor) CreatePodInfra(ctx context.Context, spec *specs.Spec) (int, error) {
	return e.builtin.CreatePodInfra(ctx, spec)
}

func (e *runtimeExecutor) Update(spec *specs.Spec, r *specs.LinuxResources) error {
	rc := e.container(spec)
	if rc == nil {
		return e.builtin.Update(spec, r) // the infra
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(rc.bundle, "resources-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return e.command(context.Background(), rc, server.Stdio{}, "update", "--resources", f.Name(), rc.id)
}

func (e *runtimeExecutor) OOMKilled(spec *specs.Spec) (bool, error) { return e.builtin.OOMKilled(spec) }

func (e *runtimeExecutor) Pids(spec *specs.Spec) ([]int, error) { return e.builtin.Pids(spec) }

// Destroy deletes the container from the runtime (its cgroup and state), unmounts the
// rootfs and removes what is left of the cgroup; idempotent.
func (e *runtimeExecutor) Destroy(spec *specs.Spec) error {
	e.mu.Lock()
	rc := e.ctrs[spec]
	delete(e.ctrs, spec)
	e.mu.Unlock()
	var errs []error
	if rc != nil {
		errs = append(errs, e.remove(rc))
	}
	errs = append(errs, e.builtin.Destroy(spec))
	return errors.Join(errs...)
}

// remove deletes rc from the runtime, if the runtime knows it, and unmounts its rootfs.
func (e *runtimeExecutor) remove(rc *runtimeContainer) error {
	var errs []error
	if _, err := os.Stat(filepath.Join(e.root, rc.id)); err == nil {
		errs = append(errs, e.command(context.Background(), rc, server.Stdio{}, "delete", "--force", rc.id))
	}
	for i := len(rc.rootfs) - 1; i >= 0; i-- {
		if err := unix.Unmount(rc.rootfs[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", rc.rootfs[i], err))
		}
	}
	rc.rootfs = nil
	return errors.Join(errs...)
}

func (e *runtimeExecutor) container(spec *specs.Spec) *runtimeContainer {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ctrs[spec]
}

// command runs one runtime command with stdio (nil: /dev/null) and returns an error
// carrying what the runtime logged when it fails.
func (e *runtimeExecutor) command(ctx context.Context, rc *runtimeContainer, stdio server.Stdio, sub ...string) error {
	if e.run == nil {
		return errors.New("runtime executor used before the monitor serves")
	}
	ctx, cancel := context.WithTimeout(ctx, runtimeTimeout)
	defer cancel()
	logPath := filepath.Join(rc.bundle, "runtime.log")
	var logOff int64
	if st, err := os.Stat(logPath); err == nil {
		logOff = st.Size()
	}
	argv := append([]string{e.path}, e.args...)
	argv = append(argv, "--root", e.root, "--log", logPath, "--log-format", "json")
	if rc.systemd {
		argv = append(argv, "--systemd-cgroup")
	}
	argv = append(argv, sub...)
	// The runtime's own stderr, when stdio has none, is kept for the error message.
	errOut, err := memfile("runtime-stderr")
	if err != nil {
		return err
	}
	defer errOut.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	files := []*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr}
	for i, f := range files {
		if f == nil {
			files[i] = null
		}
	}
	if stdio.Stderr == nil {
		files[2] = errOut
	}
	ws, err := e.run(ctx, e.path, argv, &os.ProcAttr{Dir: rc.bundle, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Files: files})
	if err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(e.path), sub[0], err)
	}
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	msgs := runtimeErrors(logPath, logOff, errOut)
	err = fmt.Errorf("%s %s: exit status %d: %s", filepath.Base(e.path), sub[0], exitStatus(ws), msgs)
	if executableRefused(msgs) {
		return api.WithCode(api.CodeInvalidArgument, err)
	}
	return err
}

// executableRefused says whether the runtime's messages refuse the process because
// its executable is missing or not executable in the container: the spec's fault
// (InvalidArgument), as dockerd also classifies these messages. runc says
// `exec: "x": executable file not found in $PATH`, `exec: "/x": stat /x: no such
// file or directory` or `exec: "/x": permission denied`; crun says "executable file
// `x` not found in $PATH" (and "open executable" for other errnos, which is not
// only the spec's).
func executableRefused(msgs string) bool {
	if strings.Contains(msgs, "executable file `") && strings.Contains(msgs, "` not found") {
		return true
	}
	_, rest, ok := strings.Cut(msgs, `exec: "`)
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, `": `)
	return ok && (strings.HasPrefix(rest, "executable file not found") ||
		strings.HasPrefix(rest, "stat ") && strings.Contains(rest, ": no such file or directory") ||
		strings.HasPrefix(rest, "permission denied"))
}

func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// runtimeErrors are the messages the runtime logged from off on (runc and crun log JSON
// lines with "msg"), else what it wrote to stderr; at most 2 KiB.
func runtimeErrors(logPath string, off int64, stderr *os.File) string {
	var msgs []string
	if f, err := os.Open(logPath); err == nil {
		b := make([]byte, 64<<10)
		n, _ := f.ReadAt(b, off)
		f.Close()
		for _, line := range strings.Split(string(b[:n]), "\n") {
			var l struct{ Level, Msg string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg != "" && (l.Level == "error" || l.Level == "fatal") {
				msgs = append(msgs, l.Msg)
			}
		}
	}
	if len(msgs) == 0 {
		b := make([]byte, 2048)
		n, _ := stderr.ReadAt(b, 0)
		msgs = append(msgs, strings.TrimSpace(string(b[:n])))
	}
	s := strings.Join(msgs, "; ")
	if len(s) > 2048 {
		s = s[:2048]
	}
	return s
}

// memfile is an anonymous in-memory file.
func memfile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("the runtime's pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("the runtime's pid file holds %q", b)
	}
	return pid, nil
}
