package monitor

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// ExecRequest describes a process to run in a running container.
type ExecRequest struct {
	ContainerID string
	Process     *specs.Process
	Stdin       io.Reader // nil = no stdin; its EOF closes the process's stdin
	Stdout      io.Writer // nil = discard
	Stderr      io.Writer // ignored with Terminal; nil = discard
	Terminal    bool
	Resize      <-chan Size
}

// Size is a terminal size in characters.
type Size struct{ Width, Height uint16 }

// Exec runs the process and streams its stdio until it exits; it returns the exit
// code (128+n for a signal n). Cancelling ctx kills the process. Output is
// streamed to Stdout/Stderr as it comes: bounding it (ExecSync) is the caller's
// business, e.g. with a writer that fails past the cap, which ends the exec.
// A goroutine blocked reading Stdin may outlive the call, as with io.Copy.
func (c *Client) Exec(ctx context.Context, req ExecRequest) (exitCode int, err error) {
	return c.stream(ctx, &api.Request{
		Op: api.OpExec, ID: req.ContainerID, Process: req.Process, Terminal: req.Terminal,
		Stdin: req.Stdin != nil,
	}, req.Stdin, req.Stdout, req.Stderr, req.Resize)
}

// Attach connects to a running container's stdio until it exits (nil) or ctx is
// cancelled. Output is fanned out to every attached client; stdin goes into the
// container (created with Stdin). With StdinOnce the container's stdin is closed
// when this attach ends or its stdin reaches EOF. A nil stdout/stderr is a stream
// not wanted; resize applies to a container with a terminal.
func (c *Client) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan Size) error {
	_, err := c.stream(ctx, &api.Request{
		Op: api.OpAttach, ID: id, Stdin: stdin != nil, Stdout: stdout != nil, Stderr: stderr != nil,
	}, stdin, stdout, stderr, resize)
	return err
}

func (c *Client) stream(ctx context.Context, req *api.Request, stdin io.Reader, stdout, stderr io.Writer, resize <-chan Size) (int, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	// Closing the connection is the cancel: the monitor kills an exec whose client went.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	fail := func(err error) (int, error) {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("monitor %s %s: %w", req.Op, req.ID, ctx.Err())
		}
		return -1, fmt.Errorf("monitor %s %s: %v: %w", req.Op, req.ID, err, errdefs.ErrUnavailable)
	}
	if err := api.WriteJSON(conn, req); err != nil {
		return fail(err)
	}
	var resp api.Response
	if err := api.ReadJSON(conn, &resp); err != nil {
		return fail(err)
	}
	if err := respError(&resp); err != nil {
		return -1, err
	}

	done := make(chan struct{})
	defer close(done)
	var wmu sync.Mutex
	send := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return api.WriteFrame(conn, typ, p)
	}
	if stdin != nil {
		go pumpStdin(stdin, send)
	}
	if resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-resize:
					if !ok {
						return
					}
					var p [4]byte
					binary.BigEndian.PutUint16(p[:2], sz.Width)
					binary.BigEndian.PutUint16(p[2:], sz.Height)
					if send(api.FrameResize, p[:]) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	var buf []byte
	for {
		typ, p, nb, err := api.ReadFrame(conn, buf)
		buf = nb
		if err != nil {
			return fail(err)
		}
		var w io.Writer
		switch typ {
		case api.FrameStdout:
			w = stdout
		case api.FrameStderr:
			w = stderr
		case api.FrameExit:
			if len(p) != 4 {
				return fail(fmt.Errorf("bad exit frame"))
			}
			return int(int32(binary.BigEndian.Uint32(p))), nil
		}
		if w != nil {
			if _, err := w.Write(p); err != nil {
				return -1, fmt.Errorf("monitor %s %s: output: %w", req.Op, req.ID, err)
			}
		}
	}
}

func pumpStdin(r io.Reader, send func(byte, []byte) error) {
	buf := make([]byte, 16<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if send(api.FrameStdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			_ = send(api.FrameEOF, nil)
			return
		}
	}
}
