package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type logOptions struct {
	follow     bool
	tail       int // < 0: all
	since      time.Time
	timestamps bool
}

func newLogsCommand(g *globals) *cobra.Command {
	var o logOptions
	var tail, since string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.tail, err = parseTail(tail); err != nil {
				return err
			}
			if o.since, err = parseSince(since, time.Now()); err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			e, err := c.lookup(cmd.Context(), args[0], true, false)
			if err != nil {
				return err
			}
			if e.ctr == nil {
				return fmt.Errorf("container %s has no logs yet", args[0])
			}
			return c.logs(cmd.Context(), e.containerID(), earlierLogs(e), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "follow log output until the container stops")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end of the logs")
	cmd.Flags().StringVar(&since, "since", "", "show logs since a timestamp (RFC 3339) or a relative time (e.g. 42m)")
	cmd.Flags().BoolVarP(&o.timestamps, "timestamps", "t", false, "show timestamps")
	return cmd
}

func parseTail(s string) (int, error) {
	if s == "all" || s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid --tail %q: a number of lines or \"all\"", s)
	}
	return n, nil
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	return time.Time{}, fmt.Errorf("invalid --since %q: a duration (10m) or a timestamp (RFC 3339)", s)
}

// earlierLogs are the log files of a managed container's previous attempts (`crid
// start` of an exited container runs the next one), oldest first, as docker shows a
// restarted container's whole history.
func earlierLogs(e *entry) []string {
	if !e.managed() || e.ctr == nil {
		return nil
	}
	var out []string
	for k := range e.ctr.GetMetadata().GetAttempt() {
		p := filepath.Join(e.rec.LogDir, fmt.Sprintf("%s/%d.log", e.Name(), k))
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// logs prints a container's CRI log file, the path the runtime reports in ContainerStatus
// (as crictl reads it): the runtime writes it on this host. earlier files come first.
func (c *client) logs(ctx context.Context, ctrID string, earlier []string, o logOptions, stdout, stderr io.Writer) error {
	st, err := c.containerStatus(ctx, ctrID)
	if err != nil {
		return err
	}
	path := st.GetLogPath()
	if path == "" {
		return errors.New("the runtime keeps no log file for this container")
	}
	f, err := openLog(ctx, path, o.follow)
	if err != nil {
		return err
	}
	defer f.Close()
	p := &logPrinter{o: o, stdout: stdout, stderr: stderr}
	var tail [][]byte
	for _, path := range earlier {
		if err := eachEarlier(path, func(r *bufio.Reader) error {
			if o.tail < 0 {
				return p.copy(r)
			}
			lines, err := lastLines(r, o.tail)
			tail = append(tail, lines...)
			return err
		}); err != nil {
			return err
		}
	}
	r := bufio.NewReaderSize(f, 64<<10)
	if o.tail >= 0 {
		lines, err := lastLines(r, o.tail)
		if err != nil {
			return err
		}
		tail = append(tail, lines...)
		for _, l := range tail[max(0, len(tail)-o.tail):] {
			p.line(l)
		}
	}
	if err := p.copy(r); err != nil {
		return err
	}
	if !o.follow {
		return nil
	}
	return c.followUntilExit(ctx, ctrID, func() error { return p.copy(r) })
}

func eachEarlier(path string, fn func(*bufio.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(bufio.NewReader(f))
}

// openLog opens path; following, it waits for the runtime to make it.
func openLog(ctx context.Context, path string, wait bool) (*os.File, error) {
	for {
		f, err := os.Open(path)
		if err == nil || !wait || !errors.Is(err, os.ErrNotExist) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// followUntilExit calls drain while the container runs, and once more after it stopped.
func (c *client) followUntilExit(ctx context.Context, ctrID string, drain func() error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := drain(); err != nil {
			return err
		}
		st, err := c.containerStatus(ctx, ctrID)
		if err != nil {
			return err
		}
		if st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			return drain()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (c *client) containerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	resp, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return nil, rpcError("container status", err)
	}
	return resp.GetStatus(), nil
}

// lastLines reads r to its end and returns the last n complete entries.
func lastLines(r *bufio.Reader, n int) ([][]byte, error) {
	ring := make([][]byte, 0, n)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' && n > 0 {
			if len(ring) == n {
				ring = append(ring[:0], ring[1:]...)
			}
			ring = append(ring, line)
		}
		if err == io.EOF {
			return ring, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// logPrinter turns CRI log entries ("TIME STREAM P|F MSG") back into the container's
// output, joining partial entries, on the stream each came from.
type logPrinter struct {
	o              logOptions
	stdout, stderr io.Writer
	partial        []byte // an incomplete line read at EOF while following
}

func (p *logPrinter) copy(r *bufio.Reader) error {
	for {
		chunk, err := r.ReadBytes('\n')
		if len(chunk) > 0 {
			p.partial = append(p.partial, chunk...)
			if p.partial[len(p.partial)-1] == '\n' {
				p.line(p.partial)
				p.partial = p.partial[:0]
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (p *logPrinter) line(l []byte) {
	ts, rest, ok := bytes.Cut(bytes.TrimSuffix(l, []byte("\n")), []byte(" "))
	if !ok {
		return
	}
	stream, rest, _ := bytes.Cut(rest, []byte(" "))
	tag, msg, _ := bytes.Cut(rest, []byte(" "))
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil || (!p.o.since.IsZero() && t.Before(p.o.since)) {
		return
	}
	w := p.stdout
	if string(stream) == "stderr" {
		w = p.stderr
	}
	var b []byte
	if p.o.timestamps {
		b = append(b, t.Format(time.RFC3339Nano)...)
		b = append(b, ' ')
	}
	b = append(b, msg...)
	if !strings.HasPrefix(string(tag), "P") {
		b = append(b, '\n')
	}
	_, _ = w.Write(b)
}
