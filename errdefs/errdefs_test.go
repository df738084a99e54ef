package errdefs

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCode(t *testing.T) {
	cases := []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{fmt.Errorf("image %q: %w", "x", ErrNotFound), codes.NotFound},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrInvalidArgument)), codes.InvalidArgument},
		{fmt.Errorf("registry: %w", ErrUnavailable), codes.Unavailable},
		{status.Error(codes.Aborted, "x"), codes.Aborted},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("plain"), codes.Unknown},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.want), func(t *testing.T) {
			if got := Code(c.err); got != c.want {
				t.Errorf("Code(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
	if s, _ := status.FromError(ToGRPC(fmt.Errorf("pod %q: %w", "p", ErrNotFound))); s.Message() != `pod "p": not found` {
		t.Errorf("message lost: %q", s.Message())
	}
}
