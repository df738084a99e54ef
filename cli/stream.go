package cli

import (
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

// session is one exec or attach over the URL a CRI Exec/Attach returned: SPDY with the
// remotecommand v4 protocol, what kubelet's clients speak to every CRI runtime.
type session struct {
	stdin          io.Reader // nil: none
	stdout, stderr io.Writer
	tty            bool
	resize         <-chan termSize
}

type termSize struct{ Width, Height uint16 }

const protocolV4 = "v4.channel.k8s.io"

// run streams until the remote process ends and returns its exit code when the server
// reports one (exec does; attach may report only success or failure).
func (s session) run(ctx context.Context, url string) (int, error) {
	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{PingPeriod: 5 * time.Second})
	if err != nil {
		return -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return -1, err
	}
	req.Header.Set(httpstream.HeaderProtocolVersion, protocolV4)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return -1, fmt.Errorf("connect to the runtime's stream server: %w", err)
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		resp.Body.Close()
		return -1, fmt.Errorf("stream upgrade: %w", err)
	}
	defer conn.Close()
	open := func(kind string) (httpstream.Stream, error) {
		h := http.Header{}
		h.Set("streamType", kind)
		return conn.CreateStream(h)
	}
	errStream, err := open("error")
	if err != nil {
		return -1, err
	}
	errStream.Close() // the client never writes on it
	if s.stdin != nil {
		in, err := open("stdin")
		if err != nil {
			return -1, err
		}
		go forwardStdin(in, s.stdin)
	}
	var outputs sync.WaitGroup
	copyOut := func(kind string, w io.Writer) error {
		if w == nil {
			return nil
		}
		st, err := open(kind)
		if err != nil {
			return err
		}
		outputs.Go(func() { _, _ = io.Copy(w, st) })
		return nil
	}
	if err := copyOut("stdout", s.stdout); err != nil {
		return -1, err
	}
	if s.tty {
		rs, err := open("resize")
		if err != nil {
			return -1, err
		}
		go func() {
			enc := json.NewEncoder(rs)
			for sz := range s.resize {
				if enc.Encode(sz) != nil {
					return
				}
			}
		}()
	} else if err := copyOut("stderr", s.stderr); err != nil {
		return -1, err
	}
	statusc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		statusc <- b
	}()
	var raw []byte
	select {
	case raw = <-statusc:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	// The status comes when the process is gone; its output drains right behind it.
	drained := make(chan struct{})
	go func() { outputs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
	}
	return exitStatus(raw)
}

// forwardStdin copies r to the remote stdin; at r's end the remote process sees EOF,
// but not when the user detached: the process (a shell, say) must keep running.
func forwardStdin(in io.WriteCloser, r io.Reader) {
	if _, err := io.Copy(in, r); errors.Is(err, errDetached) {
		return
	}
	in.Close()
}

// exitStatus reads the v4 error stream: empty or Success is 0, NonZeroExitCode carries
// the code, anything else is the server's message.
func exitStatus(raw []byte) (int, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var st struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Details struct {
			Causes []struct{ Reason, Message string } `json:"causes"`
		} `json:"details"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return -1, fmt.Errorf("stream: %s", raw)
	}
	if st.Status == "Success" {
		return 0, nil
	}
	if st.Reason == "NonZeroExitCode" {
		for _, c := range st.Details.Causes {
			if c.Reason == "ExitCode" {
				return strconv.Atoi(c.Message)
			}
		}
	}
	if st.Message == "" {
		return -1, errors.New("stream failed")
	}
	return -1, errors.New(st.Message)
}
