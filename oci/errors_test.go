package oci

import (
	"context"
	"errors"
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
)

// A child's error crosses the sync socket with its text and whether the spec caused it.
func TestChildErrorKeepsSpecCause(t *testing.T) {
	for _, c := range []struct {
		err     error
		invalid bool
	}{
		{fmt.Errorf("sysctl a.b: %w", invalidSpec(unix.ENOENT)), true},
		{fmt.Errorf("exec x: %w", invalidSpec(errors.New("executable file not found"))), true},
		{fmt.Errorf("mount /proc: %w", unix.EPERM), false},
	} {
		t.Run(c.err.Error(), func(t *testing.T) {
			if errors.Is(c.err, ErrInvalidSpec) != c.invalid {
				t.Fatalf("errors.Is(%v, ErrInvalidSpec) = %v before the socket", c.err, !c.invalid)
			}
			got := errorMsg(c.err).childErr()
			if got.Error() != c.err.Error() || errors.Is(got, ErrInvalidSpec) != c.invalid {
				t.Fatalf("after the socket: %q (invalid spec %v), want %q (%v)", got, errors.Is(got, ErrInvalidSpec), c.err, c.invalid)
			}
		})
	}
	if err := invalidSpec(unix.ENOENT); !errors.Is(err, unix.ENOENT) || err.Error() != unix.ENOENT.Error() {
		t.Errorf("invalidSpec hides its cause: %v", err)
	}
}

// A spec without what every container (or the pod infra) needs is the caller's
// fault, refused before anything is made.
func TestCreateRefusesIncompleteSpec(t *testing.T) {
	for name, spec := range map[string]*specs.Spec{
		"no spec":    nil,
		"no process": {Root: &specs.Root{Path: "/r"}, Linux: &specs.Linux{}},
		"no root":    {Process: &specs.Process{Args: []string{"true"}}, Linux: &specs.Linux{}},
		"no linux":   {Process: &specs.Process{Args: []string{"true"}}, Root: &specs.Root{Path: "/r"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Create(context.Background(), CreateOptions{ID: "c1", Spec: spec}); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Create: %v, want ErrInvalidSpec", err)
			}
		})
	}
	join := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"}}}}
	for name, spec := range map[string]*specs.Spec{"pod infra without linux": {}, "pod infra joining a mount namespace": join} {
		t.Run(name, func(t *testing.T) {
			if _, err := CreatePodInfra(context.Background(), spec, cgroups.Tree{}); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("CreatePodInfra: %v, want ErrInvalidSpec", err)
			}
		})
	}
}
