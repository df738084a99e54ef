package oci

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
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
