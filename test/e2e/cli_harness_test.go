package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The docker-like CLI tests (cli_*_test.go) drive `crid run/ps/logs/...` as a person would,
// against the shared crid, or against another CRI runtime when CRID_E2E_CLI_ENDPOINT names
// one (e.g. containerd started with the critest kit's containerd.sh); CRID_E2E_CLI_IMAGE is
// then a busybox image that runtime can pull (the kit's registry serves
// docker.io/library/busybox:1.36). save, load and tag use crid's own store and are skipped
// there.
const (
	envCLIEndpoint = "CRID_E2E_CLI_ENDPOINT"
	envCLIImage    = "CRID_E2E_CLI_IMAGE"
)

// cliTarget is the runtime the CLI drives.
type cliTarget struct {
	endpoint string
	d        *Daemon // nil for another runtime
	image    string  // a busybox image (sh, httpd, cat, ...) to run
}

func newCLITarget(t *testing.T, imageName string) *cliTarget {
	t.Helper()
	if ep := os.Getenv(envCLIEndpoint); ep != "" {
		img := os.Getenv(envCLIImage)
		if img == "" {
			t.Fatalf("%s is set: %s must name a busybox image that runtime can pull", envCLIEndpoint, envCLIImage)
		}
		return &cliTarget{endpoint: ep, image: img}
	}
	d := sharedDaemon(t)
	return &cliTarget{endpoint: "unix://" + d.Sock, d: d, image: reg.image(t, imageName).Tag}
}

// needCrid skips a step that only crid can do (its image store has no CRI RPC).
func (c *cliTarget) needCrid(t *testing.T) {
	if c.d == nil {
		t.Skip("save, load and tag use crid's image store: not over CRI")
	}
}

// command is the crid CLI aimed at the target.
func (c *cliTarget) command(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "crid"), args...)
	cmd.Env = append(os.Environ(), "CONTAINER_RUNTIME_ENDPOINT="+c.endpoint)
	return cmd
}

// storeFlags point save/load/tag at the daemon's store.
func (c *cliTarget) storeFlags() []string {
	return []string{"--root", c.d.Root, "--state", c.d.State, "--config", filepath.Join(c.d.Dir, "crid.toml")}
}

// run runs the CLI to its end and returns its stdout, stderr and exit code.
func (c *cliTarget) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := c.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("crid %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), 0
}

// ok runs the CLI and fails the test unless it exits 0.
func (c *cliTarget) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := c.run(t, args...)
	if code != 0 {
		t.Fatalf("crid %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs the CLI, wants a non-zero exit and one error line on stderr holding want.
func (c *cliTarget) fails(t *testing.T, want string, args ...string) {
	t.Helper()
	out, errs, code := c.run(t, args...)
	if code == 0 {
		t.Fatalf("crid %s succeeded, want an error %q\nstdout: %s", strings.Join(args, " "), want, out)
	}
	// Pull progress may come first, as with docker; the error itself is one line.
	var errLines []string
	for l := range strings.SplitSeq(strings.TrimSpace(errs), "\n") {
		if strings.HasPrefix(l, "crid: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], want) {
		t.Errorf("crid %s: stderr %q, want one error line holding %q", strings.Join(args, " "), errs, want)
	}
}

// removeOnCleanup removes containers by name when the test ends, whatever happened.
func (c *cliTarget) removeOnCleanup(t *testing.T, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			cmd := c.command("rm", "-f", n)
			_ = cmd.Run() // "no such container" when the test removed it itself
		}
	})
}

// managedPods lists the pods the CLI made that are still there.
func (c *cliTarget) managedPods(t *testing.T) string {
	t.Helper()
	return c.ok(t, "ps", "-a", "-q", "--no-trunc")
}
