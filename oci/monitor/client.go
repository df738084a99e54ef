package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// State is a container's life as the monitor saw it; Status is one of
// "created", "running", "stopped".
type State = api.State

// InfraID is the ID under which State and Events report the pod infra process.
const InfraID = api.InfraID

// Client talks to one pod's monitor. Every call opens its own connection to the
// monitor's socket, so calls may run concurrently; Exec and Attach hold theirs for
// the stream's life.
type Client struct {
	stateDir string
	sock     string

	events    chan *State
	closed    chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	evConn    net.Conn
	idle      []net.Conn // connections kept for the next unary call
}

// connectTimeout bounds Connect's probe of a monitor (a var for tests).
var connectTimeout = 10 * time.Second

// maxIdle bounds the kept connections: each costs the monitor a parked goroutine.
const maxIdle = 2

// Connect connects to the monitor of the pod whose state dir is stateDir, e.g.
// after a daemon restart. It fails with errdefs.ErrUnavailable when no monitor
// answers (it was killed: see Cleanup).
func Connect(ctx context.Context, stateDir string) (*Client, error) {
	c := newClient(stateDir)
	// A List proves the monitor answers, not just that a socket file is left. A
	// monitor that accepts but never answers (stopped, hung) is unavailable too.
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if _, err := c.call(pctx, &api.Request{Op: api.OpList}); err != nil {
		if ctx.Err() == nil && pctx.Err() != nil {
			return nil, fmt.Errorf("monitor of %s does not answer: %w", stateDir, errdefs.ErrUnavailable)
		}
		return nil, err
	}
	go c.watchEvents()
	return c, nil
}

// newClient is a client of the monitor in stateDir, not yet watching its events.
func newClient(stateDir string) *Client {
	return &Client{
		stateDir: stateDir,
		sock:     api.SocketPath(stateDir),
		events:   make(chan *State, 16),
		closed:   make(chan struct{}),
	}
}

// Close drops the client's connections; the monitor and its containers go on.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.mu.Lock()
		if c.evConn != nil {
			c.evConn.Close()
		}
		for _, conn := range c.idle {
			conn.Close()
		}
		c.idle = nil
		c.mu.Unlock()
	})
	return nil
}

// Events delivers container exits (State with Status "stopped"; OOMKilled is set
// before the exit is sent) and the pod infra's exit (ID InfraID). On every
// (re)connection the monitor first replays the exits it has recorded, so an exit
// that happened while crid was away is delivered, and an exit may be delivered
// more than once: handle them idempotently. The channel is closed when the
// monitor is gone (shut down or killed) or the Client is closed.
func (c *Client) Events() <-chan *State { return c.events }

func (c *Client) watchEvents() {
	defer close(c.events)
	failures := 0
	for {
		select {
		case <-c.closed:
			return
		default:
		}
		err := c.streamEvents()
		if err == nil {
			failures = 0
		} else if failures++; failures > 10 {
			return // about 2s without a monitor: it is gone
		}
		select {
		case <-c.closed:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// streamEvents returns nil when it had subscribed (so a later failure retries anew).
func (c *Client) streamEvents() error {
	conn, err := c.dial(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	c.mu.Lock()
	select {
	case <-c.closed:
		c.mu.Unlock()
		return nil
	default:
	}
	c.evConn = conn
	c.mu.Unlock()
	if err := api.WriteJSON(conn, &api.Request{Op: api.OpEvents}); err != nil {
		return err
	}
	var resp api.Response
	if err := api.ReadJSON(conn, &resp); err != nil {
		return err
	}
	if err := respError(&resp); err != nil {
		return err
	}
	for {
		st := new(State)
		if err := api.ReadJSON(conn, st); err != nil {
			return nil
		}
		select {
		case c.events <- st:
		case <-c.closed:
			return nil
		}
	}
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	addr, release, err := api.SocketAddr(c.sock)
	if err != nil {
		return nil, fmt.Errorf("monitor of %s: %v: %w", c.stateDir, err, errdefs.ErrUnavailable)
	}
	conn, err := d.DialContext(ctx, "unix", addr)
	release()
	if err != nil {
		return nil, fmt.Errorf("monitor of %s: %v: %w", c.stateDir, err, errdefs.ErrUnavailable)
	}
	return conn, nil
}

// call runs one unary operation on an idle kept connection or a new one; a call
// never shares a connection with another in flight.
func (c *Client) call(ctx context.Context, req *api.Request) (*api.Response, error) {
	conn, reused := c.takeIdle()
	if conn == nil {
		var err error
		if conn, err = c.dial(ctx); err != nil {
			return nil, err
		}
	}
	resp, sent, err := roundTrip(ctx, conn, req)
	if err != nil && reused && !sent && ctx.Err() == nil {
		// A kept connection the monitor had closed: nothing was processed, redo it.
		conn.Close()
		if conn, err = c.dial(ctx); err != nil {
			return nil, err
		}
		resp, _, err = roundTrip(ctx, conn, req)
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("monitor %s: %w", req.Op, ctx.Err())
		}
		return nil, fmt.Errorf("monitor %s: %v: %w", req.Op, err, errdefs.ErrUnavailable)
	}
	c.putIdle(conn)
	return resp, respError(resp)
}

// roundTrip writes req and reads the answer; sent reports whether any byte of an
// answer came back (so the request was certainly received).
func roundTrip(ctx context.Context, conn net.Conn, req *api.Request) (resp *api.Response, sent bool, err error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := api.WriteJSON(conn, req); err != nil {
		return nil, false, err
	}
	typ, p, _, err := api.ReadFrame(conn, nil)
	if err != nil {
		return nil, !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET), err
	}
	if typ != api.FrameJSON {
		return nil, true, fmt.Errorf("want a JSON frame, got %q", typ)
	}
	resp = new(api.Response)
	if err := json.Unmarshal(p, resp); err != nil {
		return nil, true, err
	}
	return resp, true, nil
}

func (c *Client) takeIdle() (net.Conn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.idle); n > 0 {
		conn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		return conn, true
	}
	return nil, false
}

func (c *Client) putIdle(conn net.Conn) {
	conn.SetDeadline(time.Time{})
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
	default:
		if len(c.idle) < maxIdle {
			c.idle = append(c.idle, conn)
			return
		}
	}
	conn.Close()
}

// respError maps the monitor's error codes to errdefs kinds.
func respError(r *api.Response) error {
	if r.Code == "" {
		return nil
	}
	kind := map[string]error{
		api.CodeNotFound:           errdefs.ErrNotFound,
		api.CodeAlreadyExists:      errdefs.ErrAlreadyExists,
		api.CodeFailedPrecondition: errdefs.ErrFailedPrecondition,
		api.CodeInvalidArgument:    errdefs.ErrInvalidArgument,
		api.CodeUnavailable:        errdefs.ErrUnavailable,
	}[r.Code]
	if kind == nil {
		return errors.New(r.Error)
	}
	return fmt.Errorf("%s: %w", r.Error, kind)
}

// PodInfraRequest asks for the pod's namespaces: those in Spec.Linux.Namespaces
// without a Path are created, those with one joined. The process is the built-in pause.
type PodInfraRequest struct{ Spec *specs.Spec }

// CreatePodInfra starts the pod infra process; a retry returns the running one's pid.
func (c *Client) CreatePodInfra(ctx context.Context, req PodInfraRequest) (pid int, err error) {
	resp, err := c.call(ctx, &api.Request{Op: api.OpCreatePodInfra, Spec: req.Spec})
	if err != nil {
		return 0, err
	}
	return resp.Pid, nil
}

// CreateRequest describes a container to create.
type CreateRequest struct {
	ID        string
	Spec      *specs.Spec   // Root.Path is where Rootfs is mounted (in the container's own mount ns)
	Rootfs    []specs.Mount // e.g. one overlay mount; made by the executor, never on the host mount ns
	LogPath   string        // CRI-format log written by the monitor ("" = discard)
	Stdin     bool
	StdinOnce bool // close stdin after the first attach detaches
	Terminal  bool // overrides Spec.Process.Terminal
}

// Create creates a container whose process waits before execve until Start.
func (c *Client) Create(ctx context.Context, req CreateRequest) (pid int, err error) {
	resp, err := c.call(ctx, &api.Request{
		Op: api.OpCreate, ID: req.ID, Spec: req.Spec, Rootfs: req.Rootfs, LogPath: req.LogPath,
		Stdin: req.Stdin, StdinOnce: req.StdinOnce, Terminal: req.Terminal,
	})
	if err != nil {
		return 0, err
	}
	return resp.Pid, nil
}

// Start lets a created container's process run; ErrFailedPrecondition if it is not created.
func (c *Client) Start(ctx context.Context, id string) error {
	_, err := c.call(ctx, &api.Request{Op: api.OpStart, ID: id})
	return err
}

// Kill signals the container's process, or with all every process of its cgroup
// (sig 0 means SIGTERM). Killing a stopped container is not an error.
func (c *Client) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	_, err := c.call(ctx, &api.Request{Op: api.OpKill, ID: id, Signal: int(sig), All: all})
	return err
}

// State returns a container's state (InfraID: the pod infra's); ErrNotFound if unknown.
func (c *Client) State(ctx context.Context, id string) (*State, error) {
	resp, err := c.call(ctx, &api.Request{Op: api.OpState, ID: id})
	if err != nil {
		return nil, err
	}
	return resp.State, nil
}

// List returns the states of the pod's containers (not the infra), sorted by ID.
func (c *Client) List(ctx context.Context) ([]*State, error) {
	resp, err := c.call(ctx, &api.Request{Op: api.OpList})
	if err != nil {
		return nil, err
	}
	return resp.States, nil
}

// Delete removes a stopped container's cgroup, state and stdio; unknown ids are
// not an error. ErrFailedPrecondition while it runs: Kill it first.
func (c *Client) Delete(ctx context.Context, id string) error {
	_, err := c.call(ctx, &api.Request{Op: api.OpDelete, ID: id})
	return err
}

// Update changes the container's cgroup limits.
func (c *Client) Update(ctx context.Context, id string, r *specs.LinuxResources) error {
	_, err := c.call(ctx, &api.Request{Op: api.OpUpdate, ID: id, Resources: r})
	return err
}

// ReopenLog makes the monitor reopen the container's log file (kubelet rotated it).
func (c *Client) ReopenLog(ctx context.Context, id string) error {
	_, err := c.call(ctx, &api.Request{Op: api.OpReopenLog, ID: id})
	return err
}

// Shutdown kills every process of the pod, removes their cgroups and makes the
// monitor exit (it removes its directory, api.Dir). The pod is being removed.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.call(ctx, &api.Request{Op: api.OpShutdown})
	if err == nil {
		c.Close()
		// Wait for the monitor to be gone, so the caller can remove the state dir.
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(api.SocketPath(c.stateDir)); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return err
}
