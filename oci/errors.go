package oci

import "errors"

// ErrInvalidSpec marks an error that the spec itself causes, whatever the host's
// state: a value the kernel refuses (an unknown sysctl, rlimit or seccomp action) or
// a process the container cannot run (its executable missing or not executable).
// The monitor maps it to InvalidArgument; any other error is the host's or crid's.
var ErrInvalidSpec = errors.New("invalid spec")

// specError is an error caused by the spec: its text unchanged, both err and
// ErrInvalidSpec in its chain.
type specError struct{ err error }

func (e *specError) Error() string   { return e.err.Error() }
func (e *specError) Unwrap() []error { return []error{e.err, ErrInvalidSpec} }

// invalidSpec marks err as caused by the spec (see ErrInvalidSpec).
func invalidSpec(err error) error { return &specError{err: err} }

// errorMsg is the sync message by which the init or exec child reports err; the
// executor gets it back, spec cause included, from childErr.
func errorMsg(err error) syncMsg {
	return syncMsg{Error: err.Error(), InvalidSpec: errors.Is(err, ErrInvalidSpec)}
}

// childErr is the error a child reported in m (m.Error is set).
func (m syncMsg) childErr() error {
	err := errors.New(m.Error)
	if m.InvalidSpec {
		return invalidSpec(err)
	}
	return err
}
