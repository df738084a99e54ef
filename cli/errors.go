package cli

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errUnreachable is reported when nothing serves CRI at the endpoint.
var errUnreachable = errors.New("cannot connect to the CRI runtime")

// rpcError makes a gRPC failure one readable line: the runtime's own message, without
// the "rpc error: code = ..." wrapping.
func rpcError(what string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	if st.Code() == codes.Unavailable {
		return fmt.Errorf("%w (%s): is the runtime running?", errUnreachable, st.Message())
	}
	return fmt.Errorf("%s: %s", what, st.Message())
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// exitError carries a container's exit status out of a command: main exits with it
// without printing anything more (the container already spoke).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitCode reports the exit status a command's error carries (a container's, for run,
// exec and start -a); ok is false for an ordinary error, which main prints.
func ExitCode(err error) (code int, ok bool) {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code, true
	}
	return 0, false
}
