package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// A minimal client of the CRI streaming server (what kubectl exec/attach/port-forward reach
// through the API server and kubelet): SPDY/3.1 with the remotecommand v4 protocol, or the
// portforward.k8s.io protocol. It avoids a dependency on k8s.io/client-go.

// dialSPDY upgrades a POST to url to a SPDY connection speaking protocol.
func dialSPDY(ctx context.Context, url, protocol string) (httpstream.Connection, error) {
	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{PingPeriod: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(httpstream.HeaderProtocolVersion, protocol)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", url, err)
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("upgrade %s: %w", url, err)
	}
	if got := resp.Header.Get(httpstream.HeaderProtocolVersion); got != protocol {
		conn.Close()
		return nil, fmt.Errorf("server chose protocol %q, want %q", got, protocol)
	}
	return conn, nil
}

// streamOptions are the streams a remotecommand session opens; they must match what the
// Exec/Attach request asked for.
type streamOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Resize         <-chan [2]uint16 // width, height
}

// v4Status is the JSON the server writes on the error stream when the command ends.
type v4Status struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Details *struct {
		Causes []struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"causes"`
	} `json:"details"`
}

// remoteCommand runs one exec or attach session on url and returns the command's exit code
// (from the v4 error stream: Success = 0, NonZeroExitCode carries it).
func remoteCommand(ctx context.Context, url string, o streamOptions) (int, error) {
	conn, err := dialSPDY(ctx, url, "v4.channel.k8s.io")
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	mk := func(typ string) (httpstream.Stream, error) {
		h := http.Header{}
		h.Set("streamType", typ)
		return conn.CreateStream(h)
	}
	errStream, err := mk("error")
	if err != nil {
		return -1, err
	}
	// Write end of the error stream is unused: half-close it as client-go does.
	errStream.Close()
	var wg sync.WaitGroup
	if o.Stdin != nil {
		s, err := mk("stdin")
		if err != nil {
			return -1, err
		}
		go func() {
			_, _ = io.Copy(s, o.Stdin)
			s.Close() // half-close: the command sees EOF
		}()
	}
	copyOut := func(typ string, w io.Writer) error {
		if w == nil {
			return nil
		}
		s, err := mk(typ)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(w, s)
		}()
		return nil
	}
	if err := copyOut("stdout", o.Stdout); err != nil {
		return -1, err
	}
	if !o.TTY {
		if err := copyOut("stderr", o.Stderr); err != nil {
			return -1, err
		}
	}
	if o.TTY {
		s, err := mk("resize")
		if err != nil {
			return -1, err
		}
		go func() {
			enc := json.NewEncoder(s)
			for sz := range o.Resize {
				_ = enc.Encode(map[string]uint16{"Width": sz[0], "Height": sz[1]})
			}
		}()
	}
	statusCh := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		statusCh <- b
	}()
	var raw []byte
	select {
	case raw = <-statusCh:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	// The status comes when the command is done; the output streams drain right after.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return -1, errors.New("output streams not closed 10s after the exit status")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return -1, errors.New("no status on the error stream")
	}
	var st v4Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return -1, fmt.Errorf("error stream %q: %w", raw, err)
	}
	switch {
	case st.Status == "Success":
		return 0, nil
	case st.Reason == "NonZeroExitCode" && st.Details != nil:
		for _, c := range st.Details.Causes {
			if c.Reason == "ExitCode" {
				return strconv.Atoi(c.Message)
			}
		}
	}
	return -1, fmt.Errorf("stream failed: %s", raw)
}

// portForwardOnce opens one forwarded connection to port over a portforward URL, writes
// req, closes its write side and returns all the pod sent back.
func portForwardOnce(ctx context.Context, url string, port int, req []byte) ([]byte, error) {
	conn, err := dialSPDY(ctx, url, "portforward.k8s.io")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	h := http.Header{}
	h.Set("streamType", "error")
	h.Set("port", strconv.Itoa(port))
	h.Set("requestID", "0")
	errStream, err := conn.CreateStream(h)
	if err != nil {
		return nil, err
	}
	errStream.Close()
	errCh := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		errCh <- b
	}()
	h.Set("streamType", "data")
	data, err := conn.CreateStream(h)
	if err != nil {
		return nil, err
	}
	if _, err := data.Write(req); err != nil {
		return nil, err
	}
	data.Close()
	type res struct {
		b   []byte
		err error
	}
	got := make(chan res, 1)
	go func() {
		b, err := io.ReadAll(data)
		got <- res{b, err}
	}()
	select {
	case r := <-got:
		select {
		case msg := <-errCh:
			if len(msg) > 0 {
				return r.b, fmt.Errorf("port forward error stream: %s", msg)
			}
		case <-time.After(5 * time.Second):
		}
		return r.b, r.err
	case msg := <-errCh:
		if len(msg) > 0 {
			return nil, fmt.Errorf("port forward error stream: %s", msg)
		}
		r := <-got
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
