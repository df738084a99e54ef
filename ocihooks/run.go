package ocihooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultTimeout bounds a hook that sets no timeout of its own: a hung hook must not hold a
// container's create, start or delete for ever.
const DefaultTimeout = time.Minute

// maxOutput is how much of a failed hook's output its error quotes.
const maxOutput = 2048

// Waiter starts cmd and waits for its exit, nil meaning status 0. A process whose reaper
// collects every child (crid-monitor, a subreaper) hands in one that takes the exit from
// its reaper: exec.Cmd's own wait would find the child already gone. nil means cmd.Run.
type Waiter func(cmd *exec.Cmd) error

// Run runs hooks in order, each with state as JSON on its stdin, only its own env, and its
// timeout (DefaultTimeout when it sets none), and stops at the first that fails: the error
// names the stage, the hook and the end of its output.
func Run(ctx context.Context, stage string, hooks []specs.Hook, state *specs.State, wait Waiter) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runOne(ctx, h, in, wait); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", stage, i, h.Path, err)
		}
	}
	return nil
}

func runOne(ctx context.Context, h specs.Hook, state []byte, wait Waiter) error {
	timeout := DefaultTimeout
	if h.Timeout != nil && *h.Timeout > 0 {
		timeout = time.Duration(*h.Timeout) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = append([]string{}, h.Env...) // never the runtime's environment
	cmd.Stdin = bytes.NewReader(state)
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// A child the hook left behind holding its output must not hold us too.
	cmd.WaitDelay = time.Second
	if wait == nil {
		wait = (*exec.Cmd).Run
	}
	err := wait(cmd)
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	if err != nil {
		if o := strings.TrimSpace(out.String()); o != "" {
			return fmt.Errorf("%w: %s", err, o)
		}
		return err
	}
	return nil
}

// tailBuffer keeps the last maxOutput bytes written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > maxOutput {
		t.b = append(t.b[:0], t.b[len(t.b)-maxOutput:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// State is the state a hook gets on stdin.
func State(id string, status specs.ContainerState, pid int, bundle string, annotations map[string]string) *specs.State {
	return &specs.State{Version: specs.Version, ID: id, Status: status, Pid: pid, Bundle: bundle, Annotations: annotations}
}
