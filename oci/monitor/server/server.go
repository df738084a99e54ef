// Package server is the per-pod monitor: the process crid starts once per pod
// (cmd/crid-monitor), which is the parent of the pod's containers. It reaps them,
// holds their stdio and writes their CRI logs, records their states on disk, and
// answers crid over a unix socket (protocol in package api). It keeps the pod's
// containers running while crid is stopped or restarted.
//
// Goroutines: one reaper, one accept loop, one per client connection, one per
// container output stream (holding no buffer while idle), and short-lived ones per
// exit. Memory is what a pod's monitor is judged by: keep it that way.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// Config configures a Server.
type Config struct {
	PodID      string
	StateDir   string // the pod's state dir; the monitor uses api.Dir(StateDir)
	Executor   Executor
	Logger     *slog.Logger
	MaxLogLine int // 0 = DefaultMaxLine
	// Idle is how long the monitor waits with nothing in flight before it hands the pod
	// to its C body (Switch); 0 never does.
	Idle time.Duration
	// Switch replaces this process's image, handing it h (see SwitchExec); it returns
	// only on failure, and the monitor then goes on as if nothing happened.
	Switch func(h *api.Handover) error
	// Argv is the monitor's command line, for the C body to exec back with.
	Argv []string
}

// Server is one pod's monitor.
type Server struct {
	cfg    Config
	exec   Executor
	log    *slog.Logger
	reaper *reaper

	mu           sync.Mutex
	containers   map[string]*container // the infra too, under api.InfraID
	subs         map[*subscriber]struct{}
	shuttingDown bool
	creating     sync.WaitGroup // Creates in flight
	listener     net.Listener
	stopped      chan struct{} // closed once Shutdown answered
	stopOnce     sync.Once
	trimTimer    *time.Timer

	// What keeps the monitor from switching to its C body (idle.go); guarded by mu.
	active     int                   // requests, sessions and exits in flight, fresh connections
	kept       map[net.Conn]struct{} // unary connections waiting for their next request
	switching  bool                  // the pod is being handed over: no request is taken
	switchDone chan struct{}         // closed when a switch aborted
	idleTimer  *time.Timer
	acceptEnd  chan struct{} // closed when the accept loop returns

	// Set by Resume: served before anything else.
	resumeConn   net.Conn
	resumeSignal unix.Signal
}

// New returns a monitor for one pod. Call Serve to run it.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:        cfg,
		exec:       cfg.Executor,
		log:        cfg.Logger,
		reaper:     newReaper(),
		containers: map[string]*container{},
		subs:       map[*subscriber]struct{}{},
		kept:       map[net.Conn]struct{}{},
		stopped:    make(chan struct{}),
	}
}

// Listen prepares the monitor's directory (0700: the socket must not be reachable
// by others; never an abstract socket) and listens on its socket.
func Listen(stateDir string) (*net.UnixListener, error) {
	dir := api.Dir(stateDir)
	if err := os.MkdirAll(api.ContainersDir(stateDir), 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	path := api.SocketPath(stateDir)
	// A socket left by a dead monitor: the caller made sure no monitor is alive.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	addr, release, err := api.SocketAddr(path)
	if err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	release()
	if err != nil {
		return nil, err
	}
	// The socket file belongs to this monitor; Close must not unlink a successor's.
	l.SetUnlinkOnClose(false)
	return l, nil
}

// Serve answers connections on l until Shutdown has been answered. It starts the
// reaper first: from then on the monitor reaps every child it has.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.listener = l
	conn, sig := s.resumeConn, s.resumeSignal
	s.resumeConn = nil
	if conn != nil {
		s.active++ // as the accept loop counts a fresh connection
	}
	s.mu.Unlock()
	go s.reaper.run()
	if conn != nil {
		go s.handle(conn)
	}
	if sig != 0 {
		// The C body caught it: it is this process's now, as if it had come here.
		signal.Reset(sig)
		_ = unix.Kill(os.Getpid(), sig)
	}
	for {
		err := s.acceptLoop(l)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errSwitchAborted) {
			return err
		}
		s.waitSwitch()
	}
}

// errSwitchAborted restarts the accept loop after a switch that did not happen.
var errSwitchAborted = errors.New("switch aborted")

func (s *Server) acceptLoop(l net.Listener) error {
	s.mu.Lock()
	end := make(chan struct{})
	s.acceptEnd = end
	s.armIdleLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.acceptEnd = nil
		s.mu.Unlock()
		close(end)
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			select {
			case <-s.stopped:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.mu.Lock()
				switching := s.switching
				s.mu.Unlock()
				if switching {
					// Stopped for a switch, which either execs or aborts.
					return errSwitchAborted
				}
				continue
			}
			return err
		}
		s.mu.Lock()
		s.busyLocked() // released once its first request is answered (handle)
		s.mu.Unlock()
		go s.handle(conn)
	}
}

// Done is closed after Shutdown has been answered.
func (s *Server) Done() <-chan struct{} { return s.stopped }

// handle serves one connection. It starts counted as active (a fresh connection);
// between requests it is a kept connection, which a switch may close: the client
// redoes a request on a kept connection closed without an answer.
func (s *Server) handle(conn net.Conn) {
	var buf []byte
	for first := true; ; first = false {
		if !first && !s.keep(conn) {
			conn.Close()
			return
		}
		typ, p, nb, err := api.ReadFrame(conn, buf)
		buf = nb
		if !first && !s.wake(conn) {
			// Read while the pod was being handed over: not taken, the client redoes it.
			conn.Close()
			return
		}
		if err != nil {
			conn.Close()
			s.release()
			return
		}
		var req api.Request
		if typ != api.FrameJSON {
			err = api.Errorf(api.CodeInvalidArgument, "want a request frame, got %q", typ)
		} else if err = json.Unmarshal(p, &req); err != nil {
			err = api.Errorf(api.CodeInvalidArgument, "bad request: %v", err)
		}
		if cap(buf) > 64<<10 {
			buf = nil // a Create's spec: do not keep it for the connection's life
		}
		if err != nil {
			_ = api.WriteJSON(conn, api.ErrorResponse(err))
			conn.Close()
			s.release()
			return
		}
		switch req.Op {
		case api.OpEvents:
			s.serveEvents(conn)
			return
		case api.OpExec:
			s.serveExec(conn, &req)
			s.release()
			return
		case api.OpAttach:
			s.serveAttach(conn, &req)
			s.release()
			return
		}
		resp, err := s.unary(&req)
		switch req.Op {
		case api.OpCreate, api.OpCreatePodInfra, api.OpDelete:
			s.trimSoon()
		}
		if err != nil {
			s.log.Debug("request failed", "op", req.Op, "id", req.ID, "err", err)
			resp = api.ErrorResponse(err)
		} else if resp == nil {
			resp = &api.Response{}
		}
		werr := api.WriteJSON(conn, resp)
		if req.Op == api.OpShutdown && err == nil {
			conn.Close()
			s.stop()
			s.release()
			return
		}
		if werr != nil {
			conn.Close()
			s.release()
			return
		}
	}
}

func (s *Server) unary(req *api.Request) (*api.Response, error) {
	ctx := context.Background()
	switch req.Op {
	case api.OpCreatePodInfra:
		return s.createPodInfra(ctx, req)
	case api.OpCreate:
		return s.create(ctx, req)
	case api.OpStart:
		return nil, s.start(req.ID)
	case api.OpKill:
		return nil, s.kill(req.ID, unix.Signal(req.Signal), req.All)
	case api.OpState:
		c, err := s.lookup(req.ID)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		st := c.rec.State
		s.mu.Unlock()
		return &api.Response{State: &st}, nil
	case api.OpList:
		return &api.Response{States: s.list()}, nil
	case api.OpDelete:
		return nil, s.delete(req.ID)
	case api.OpUpdate:
		return nil, s.update(req.ID, req.Resources)
	case api.OpReopenLog:
		c, err := s.lookup(req.ID)
		if err != nil {
			return nil, err
		}
		if c.log == nil {
			return nil, nil
		}
		return nil, c.log.Reopen()
	case api.OpShutdown:
		return nil, s.shutdown()
	}
	return nil, api.Errorf(api.CodeInvalidArgument, "unknown operation %q", req.Op)
}

func (s *Server) list() []*api.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*api.State, 0, len(s.containers))
	for id, c := range s.containers {
		if id == api.InfraID || c.rec.Status == "" {
			continue
		}
		st := c.rec.State
		out = append(out, &st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// lookup finds a container that finished creating.
func (s *Server) lookup(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.containers[id]
	if c == nil || c.rec.Status == "" {
		return nil, api.Errorf(api.CodeNotFound, "container %q: not found", id)
	}
	return c, nil
}

// subscriber is one events connection. Exits are written to it directly (a unix
// socket buffer holds far more events than a pod makes); its goroutine only waits
// for the client to go away.
type subscriber struct {
	mu   sync.Mutex
	conn net.Conn
}

func (s *Server) serveEvents(conn net.Conn) {
	sub := &subscriber{conn: conn}
	// Subscribe and take the replay in one s.mu section, so no exit falls between
	// them (one may be in both: clients accept repeats). The replay is written
	// holding sub.mu only: publish to this subscriber waits behind it.
	sub.mu.Lock()
	s.mu.Lock()
	var replay []api.State
	for _, c := range s.containers {
		if c.rec.Status == api.StatusStopped {
			replay = append(replay, c.rec.State)
		}
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	err := api.WriteJSON(conn, &api.Response{})
	for i := 0; err == nil && i < len(replay); i++ {
		err = api.WriteJSON(conn, &replay[i])
	}
	sub.mu.Unlock()
	s.release() // a subscriber waiting for exits keeps no request in flight
	s.watchSubscriber(sub, err)
}

// watchSubscriber waits for an events client to go away and forgets it.
func (s *Server) watchSubscriber(sub *subscriber, err error) {
	conn := sub.conn
	if err == nil {
		// Nothing is read from an events client: a read ends when it goes away.
		var b [64]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				break
			}
		}
	}
	// A switch in progress has this fd in its handover: it must stay this connection's
	// until the switch execs (the next body watches it) or aborts.
	s.mu.Lock()
	s.waitSwitchLocked()
	delete(s.subs, sub)
	conn.Close()
	s.mu.Unlock()
}

// publish sends an exit to every events subscriber; one that cannot take it within
// a second is dropped (it will reconnect and get the replay).
func (s *Server) publish(st *api.State) {
	b, err := json.Marshal(st)
	if err != nil {
		return
	}
	s.mu.Lock()
	subs := make([]*subscriber, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	// Written outside s.mu: a slow client must not hold up State or List. A
	// subscriber that joins meanwhile got this exit in its replay.
	for _, sub := range subs {
		sub.mu.Lock()
		sub.conn.SetWriteDeadline(time.Now().Add(time.Second))
		err := api.WriteFrame(sub.conn, api.FrameJSON, b)
		sub.mu.Unlock()
		if err != nil {
			sub.conn.Close()
			s.mu.Lock()
			delete(s.subs, sub)
			s.mu.Unlock()
		}
	}
}

// shutdown kills every process of the pod, waits for their exits and removes
// their cgroups. The monitor exits after answering.
func (s *Server) shutdown() error {
	s.mu.Lock()
	s.shuttingDown = true
	s.mu.Unlock()
	s.creating.Wait()
	s.mu.Lock()
	cs := make([]*container, 0, len(s.containers))
	for _, c := range s.containers {
		if c.rec.Status != "" {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	for _, c := range cs {
		s.killAll(c, unix.SIGKILL)
	}
	timeout := time.After(10 * time.Second)
	for _, c := range cs {
		select {
		case <-c.done:
		case <-timeout:
			s.mu.Lock()
			s.shuttingDown = false
			s.mu.Unlock()
			return api.Errorf(api.CodeUnavailable, "container %q did not exit after SIGKILL", c.id)
		}
	}
	var errs []error
	for _, c := range cs {
		if err := s.exec.Destroy(c.spec); err != nil {
			errs = append(errs, err)
		}
		if c.log != nil {
			c.log.Close()
		}
	}
	return errors.Join(errs...)
}

// trimSoon returns freed heap to the kernel a moment after a burst of work (a
// Create decodes a spec, the executor copies itself once): the Go scavenger
// would keep it mapped for minutes, and a pod's monitor is judged by its
// resident memory while idle. Debounced; one GC of a small heap costs little.
func (s *Server) trimSoon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trimTimer == nil {
		s.trimTimer = time.AfterFunc(time.Second, func() {
			debug.FreeOSMemory()
			if s.log.Enabled(context.Background(), slog.LevelDebug) {
				s.logMemory()
			}
		})
		return
	}
	s.trimTimer.Reset(time.Second)
}

// logMemory logs where the monitor's memory goes (runtime/metrics classes).
func (s *Server) logMemory() {
	all := metrics.All()
	samples := make([]metrics.Sample, 0, 16)
	for _, d := range all {
		if strings.HasPrefix(d.Name, "/memory/classes/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	args := make([]any, 0, 2*len(samples)+2)
	for _, sm := range samples {
		if sm.Value.Kind() == metrics.KindUint64 && sm.Value.Uint64() > 0 {
			args = append(args, strings.TrimSuffix(strings.TrimPrefix(sm.Name, "/memory/classes/"), ":bytes"), sm.Value.Uint64())
		}
	}
	args = append(args, "goroutines", runtime.NumGoroutine())
	s.log.Debug("memory", args...)
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		close(s.stopped)
		s.mu.Lock()
		l := s.listener
		s.mu.Unlock()
		if l != nil {
			l.Close()
		}
	})
}

// killAll signals the container's init and every process left in its cgroup.
func (s *Server) killAll(c *container, sig unix.Signal) {
	s.mu.Lock()
	if !c.reaped && c.rec.Pid > 0 {
		unix.Kill(c.rec.Pid, sig)
	}
	s.mu.Unlock()
	if c.spec == nil {
		return
	}
	pids, err := s.exec.Pids(c.spec)
	if err != nil {
		s.log.Warn("listing the container's processes", "id", c.id, "err", err)
		return
	}
	for _, pid := range pids {
		unix.Kill(pid, sig)
	}
}

func writeSpec(dir string, spec *specs.Spec) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return api.WriteFileAtomic(dir+"/spec.json", b, 0o600)
}
