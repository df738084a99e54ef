package server

import (
	"context"
	"os"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/ocihooks"
)

// drainTimeout bounds how long an exit waits for the container's output to end:
// a process that inherited the pipes and escaped the kill must not hold the exit back.
const drainTimeout = 2 * time.Second

type container struct {
	id    string
	dir   string
	spec  *specs.Spec
	start func() error

	// Guarded by Server.mu.
	rec    api.Record
	reaped bool // the init was reaped: its pid is no longer ours to signal

	persistMu sync.Mutex    // orders state.json writes
	done      chan struct{} // closed once the exit is recorded
	log       *LogWriter
	outputs   sync.WaitGroup // the output copiers
	outs      []*outStream   // guarded by ioMu

	ioMu      sync.Mutex
	stdin     *os.File // our end of the container's stdin (the console with a tty)
	console   *os.File
	stdinOnce bool
	attaches  map[*attachSession]struct{}
}

func (s *Server) create(ctx context.Context, req *api.Request) (*api.Response, error) {
	if !api.ValidID(req.ID) || req.ID == api.InfraID {
		return nil, api.Errorf(api.CodeInvalidArgument, "invalid container id %q", req.ID)
	}
	if req.Spec == nil || req.Spec.Process == nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "container %q: spec without a process", req.ID)
	}
	c := &container{
		id:        req.ID,
		dir:       api.ContainerDir(s.cfg.StateDir, req.ID),
		spec:      req.Spec,
		done:      make(chan struct{}),
		stdinOnce: req.StdinOnce,
		attaches:  map[*attachSession]struct{}{},
	}
	c.spec.Process.Terminal = req.Terminal
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		return nil, api.Errorf(api.CodeFailedPrecondition, "pod is shutting down")
	}
	if s.containers[req.ID] != nil {
		s.mu.Unlock()
		return nil, api.Errorf(api.CodeAlreadyExists, "container %q already exists", req.ID)
	}
	s.containers[req.ID] = c // reserved: lookup ignores it until its status is set
	s.creating.Add(1)        // Shutdown waits for it: nothing may outlive the pod
	s.mu.Unlock()
	defer s.creating.Done()

	pid, err := s.spawnContainer(ctx, c, req)
	if err != nil {
		s.mu.Lock()
		delete(s.containers, req.ID)
		s.mu.Unlock()
		return nil, err
	}
	return &api.Response{Pid: pid}, nil
}

func (s *Server) spawnContainer(ctx context.Context, c *container, req *api.Request) (pid int, err error) {
	var mine, theirs []*os.File
	defer func() {
		closeAll(theirs...)
		if err != nil {
			closeAll(mine...)
			if c.log != nil {
				c.log.Close()
			}
			_ = s.exec.Destroy(c.spec)
			os.RemoveAll(c.dir)
		}
	}()
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return 0, err
	}
	// The spec is on disk before anything exists, so Cleanup can undo a half-made
	// container if the monitor dies now.
	if err := writeSpec(c.dir, c.spec); err != nil {
		return 0, err
	}
	if c.spec.Hooks != nil {
		// Hooks read the spec from <bundle>/config.json (nvidia's does): the container
		// dir is the bundle, config.json the spec kept up to date by update.
		if err := os.Symlink("spec.json", c.dir+"/config.json"); err != nil {
			return 0, err
		}
	}
	if req.LogPath != "" {
		if c.log, err = OpenLog(req.LogPath, s.cfg.MaxLogLine); err != nil {
			return 0, err
		}
	}
	var stdio Stdio
	var stdoutR, stderrR *os.File
	if !req.Terminal {
		if stdoutR, stdio.Stdout, err = pipe(true); err != nil {
			return 0, err
		}
		mine, theirs = append(mine, stdoutR), append(theirs, stdio.Stdout)
		if stderrR, stdio.Stderr, err = pipe(true); err != nil {
			return 0, err
		}
		mine, theirs = append(mine, stderrR), append(theirs, stdio.Stderr)
		if req.Stdin {
			if c.stdin, stdio.Stdin, err = pipe(false); err != nil {
				return 0, err
			}
			mine, theirs = append(mine, c.stdin), append(theirs, stdio.Stdin)
		}
	}

	s.reaper.beginSpawn()
	defer s.reaper.endSpawn()
	created, err := s.exec.Create(ctx, CreateOptions{
		ID: c.id, StateDir: c.dir + "/exec", Spec: c.spec, Rootfs: req.Rootfs, Stdio: stdio, Bundle: c.dir,
		HookWait: s.waitHook,
	})
	if err != nil {
		return 0, err
	}
	c.start = created.Start
	if created.Console != nil {
		if c.console, err = pollable(created.Console); err != nil {
			unix.Kill(created.Pid, unix.SIGKILL)
			return 0, err
		}
		mine = append(mine, c.console)
		stdoutR = c.console
		if req.Stdin {
			c.stdin = c.console
		}
	}
	startTime, _ := api.ProcStartTime(created.Pid)
	s.mu.Lock() // the reserved entry is visible to serveEvents and shutdown
	c.rec = api.Record{State: api.State{ID: c.id, Pid: created.Pid, CreatedAt: time.Now()}, StartTime: startTime}
	s.mu.Unlock()
	if err := s.persistRecord(c, api.StatusCreated); err != nil {
		unix.Kill(created.Pid, unix.SIGKILL)
		return 0, err
	}
	s.copyContainerOutput(c, stdoutR, "stdout", api.FrameStdout)
	s.copyContainerOutput(c, stderrR, "stderr", api.FrameStderr)
	s.reaper.register(created.Pid, func(ws unix.WaitStatus) { s.containerExited(c, ws) })
	return created.Pid, nil
}

func (s *Server) copyContainerOutput(c *container, f *os.File, name string, typ byte) {
	s.copyContainerOutputFrom(c, f, name, typ, nil)
}

// copyContainerOutputFrom starts copying f to the log and attached clients; pending is
// a partial line another body of the monitor read from f.
func (s *Server) copyContainerOutputFrom(c *container, f *os.File, name string, typ byte, pending []byte) {
	if f == nil {
		return
	}
	var ls *LogStream
	if c.log != nil {
		ls = c.log.Stream(name)
		ls.setPending(pending)
	}
	o := &outStream{f: f, ls: ls, name: name, typ: typ}
	c.ioMu.Lock()
	c.outs = append(c.outs, o)
	c.ioMu.Unlock()
	s.runCopier(c, o)
}

// outStream is one of a container's output streams: the fd the monitor reads and the
// log stream it feeds.
type outStream struct {
	f    *os.File
	ls   *LogStream
	name string // "stdout" or "stderr"
	typ  byte

	// Guarded by container.ioMu.
	running  bool          // a copier reads f
	closed   bool          // f reached its end and was closed (the console is never closed)
	stopping bool          // the copier is being stopped for a switch: no Flush, no Close
	stopped  chan struct{} // closed when the copier returns
}

func (s *Server) runCopier(c *container, o *outStream) {
	c.ioMu.Lock()
	o.running, o.stopping, o.stopped = true, false, make(chan struct{})
	c.ioMu.Unlock()
	c.outputs.Add(1)
	go func() {
		defer c.outputs.Done()
		copyOut(o.f, func(b []byte) {
			_, _ = o.ls.Write(b)
			c.fanout(o.typ, b)
		})
		c.ioMu.Lock()
		stopping := o.stopping
		o.running = false
		if !stopping {
			o.closed = c.console != o.f
		}
		c.ioMu.Unlock()
		if !stopping {
			o.ls.Flush()
			if c.console != o.f {
				o.f.Close()
			}
		}
		close(o.stopped)
	}()
}

// persistRecord sets the status (when not empty) and writes state.json. The
// status becomes visible to lookups only once the file says so.
func (s *Server) persistRecord(c *container, status string) error {
	c.persistMu.Lock()
	defer c.persistMu.Unlock()
	s.mu.Lock()
	rec := c.rec
	if status != "" {
		rec.Status = status
	}
	s.mu.Unlock()
	if err := api.WriteRecord(c.dir, &rec); err != nil {
		return err
	}
	if status != "" {
		s.mu.Lock()
		// An exit recorded meanwhile wins over created/running.
		if c.rec.Status != api.StatusStopped {
			c.rec.Status = status
		}
		s.mu.Unlock()
	}
	return nil
}

// containerExited runs on the reaper goroutine: mark the pid dead at once, do the
// rest (which waits for output and asks the kernel about OOM) elsewhere.
func (s *Server) containerExited(c *container, ws unix.WaitStatus) {
	s.mu.Lock()
	c.reaped = true
	s.busyLocked() // the exit is in flight until recorded and published
	s.mu.Unlock()
	go s.finishExit(c, exitCode(ws))
}

func (s *Server) finishExit(c *container, code int) {
	if c.id != api.InfraID {
		// Processes left in the cgroup (a shared PID namespace keeps them alive)
		// would hold the output pipes open; the container is over.
		if pids, err := s.exec.Pids(c.spec); err == nil {
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	waitTimeout(&c.outputs, drainTimeout)
	// OOMKilled is known before the exit is recorded or announced (containerd #12714).
	oom, err := s.exec.OOMKilled(c.spec)
	if err != nil {
		s.log.Warn("reading the OOM state", "id", c.id, "err", err)
	}
	s.mu.Lock()
	c.rec.ExitCode = int32(code)
	c.rec.OOMKilled = oom
	c.rec.FinishedAt = time.Now()
	c.rec.Status = api.StatusStopped
	st := c.rec.State
	s.mu.Unlock()
	if err := s.persistRecord(c, ""); err != nil {
		s.log.Error("recording the exit", "id", c.id, "err", err)
	}
	if c.log != nil {
		if err := c.log.Err(); err != nil {
			s.log.Warn("writing the container log", "id", c.id, "err", err)
		}
	}
	s.log.Info("container exited", "id", c.id, "code", code, "oom", oom)
	c.endAttaches(code)
	close(c.done)
	s.publish(&st)
	s.release()
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func (s *Server) start(id string) error {
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ok := c.rec.Status == api.StatusCreated && !c.reaped && c.start != nil
	s.mu.Unlock()
	if !ok {
		return api.Errorf(api.CodeFailedPrecondition, "container %q is not in the created state", id)
	}
	// Recorded before the process may run: a process that exits at once is reaped,
	// and its exit reported, before start returns; that report must carry the start.
	s.mu.Lock()
	c.rec.StartedAt = time.Now()
	s.mu.Unlock()
	if err := c.start(); err != nil {
		s.mu.Lock()
		c.rec.StartedAt = time.Time{}
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	c.start = nil
	pid := c.rec.Pid
	s.mu.Unlock()
	if err := s.persistRecord(c, api.StatusRunning); err != nil {
		return err
	}
	if c.spec.Hooks != nil && s.monitorRunsPostHooks() {
		// The runtime spec: a failed poststart hook is a warning, the container runs on.
		st := ocihooks.State(c.id, specs.StateRunning, pid, c.dir, c.spec.Annotations)
		if err := ocihooks.Run(context.Background(), "poststart", c.spec.Hooks.Poststart, st, s.waitHook); err != nil {
			s.log.Warn("poststart hook failed", "id", c.id, "err", err)
		}
	}
	return nil
}

// kill signals the init (all: every process of the cgroup). A container that has
// already exited is not an error: stopping is idempotent for the caller.
func (s *Server) kill(id string, sig unix.Signal, all bool) error {
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	if sig == 0 {
		sig = unix.SIGTERM
	}
	if all {
		s.killAll(c, sig)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.reaped {
		return nil
	}
	if err := unix.Kill(c.rec.Pid, sig); err != nil && err != unix.ESRCH {
		return err
	}
	return nil
}

func (s *Server) delete(id string) error {
	s.mu.Lock()
	c := s.containers[id]
	if c == nil {
		s.mu.Unlock()
		return nil
	}
	if c.rec.Status != api.StatusStopped {
		s.mu.Unlock()
		return api.Errorf(api.CodeFailedPrecondition, "container %q is %s, not stopped", id, c.rec.Status)
	}
	pid := c.rec.Pid
	s.mu.Unlock()
	if err := s.exec.Destroy(c.spec); err != nil {
		return err
	}
	if c.spec.Hooks != nil && len(c.spec.Hooks.Poststop) > 0 && s.monitorRunsPostHooks() {
		// After the container is gone, before delete returns; a failure is a warning.
		st := ocihooks.State(c.id, specs.StateStopped, pid, c.dir, c.spec.Annotations)
		if err := ocihooks.Run(context.Background(), "poststop", c.spec.Hooks.Poststop, st, s.waitHook); err != nil {
			s.log.Warn("poststop hook failed", "id", c.id, "err", err)
		}
	}
	if c.log != nil {
		c.log.Close()
	}
	c.ioMu.Lock()
	closeAll(c.stdin, c.console)
	c.stdin, c.console = nil, nil
	c.ioMu.Unlock()
	if err := os.RemoveAll(c.dir); err != nil {
		return err
	}
	s.mu.Lock()
	if s.containers[id] == c {
		delete(s.containers, id)
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) update(id string, r *specs.LinuxResources) error {
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	if r == nil {
		return api.Errorf(api.CodeInvalidArgument, "no resources")
	}
	if err := s.exec.Update(c.spec, r); err != nil {
		return err
	}
	if c.spec.Linux != nil {
		c.spec.Linux.Resources = r
		return writeSpec(c.dir, c.spec)
	}
	return nil
}

func (s *Server) createPodInfra(ctx context.Context, req *api.Request) (*api.Response, error) {
	if req.Spec == nil {
		return nil, api.Errorf(api.CodeInvalidArgument, "pod infra: no spec")
	}
	s.mu.Lock()
	if old := s.containers[api.InfraID]; old != nil {
		// A retried request gets the running infra.
		pid, status := old.rec.Pid, old.rec.Status
		s.mu.Unlock()
		if status == api.StatusRunning {
			return &api.Response{Pid: pid}, nil
		}
		return nil, api.Errorf(api.CodeAlreadyExists, "pod infra exists (%s)", status)
	}
	if s.shuttingDown {
		s.mu.Unlock()
		return nil, api.Errorf(api.CodeFailedPrecondition, "pod is shutting down")
	}
	s.creating.Add(1)
	defer s.creating.Done()
	c := &container{
		id:       api.InfraID,
		dir:      api.ContainerDir(s.cfg.StateDir, api.InfraID),
		spec:     req.Spec,
		done:     make(chan struct{}),
		attaches: map[*attachSession]struct{}{},
	}
	s.containers[api.InfraID] = c
	s.mu.Unlock()
	fail := func(err error) (*api.Response, error) {
		s.mu.Lock()
		delete(s.containers, api.InfraID)
		s.mu.Unlock()
		_ = s.exec.Destroy(c.spec)
		os.RemoveAll(c.dir)
		return nil, err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fail(err)
	}
	if err := writeSpec(c.dir, c.spec); err != nil {
		return fail(err)
	}
	s.reaper.beginSpawn()
	defer s.reaper.endSpawn()
	pid, err := s.exec.CreatePodInfra(ctx, c.spec)
	if err != nil {
		return fail(err)
	}
	now := time.Now()
	startTime, _ := api.ProcStartTime(pid)
	s.mu.Lock()
	c.rec = api.Record{State: api.State{ID: api.InfraID, Pid: pid, CreatedAt: now, StartedAt: now}, StartTime: startTime}
	s.mu.Unlock()
	if err := s.persistRecord(c, api.StatusRunning); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return fail(err)
	}
	s.reaper.register(pid, func(ws unix.WaitStatus) { s.containerExited(c, ws) })
	return &api.Response{Pid: pid}, nil
}
