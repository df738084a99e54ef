package oci

import (
	"context"
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/ocihooks"
)

// Where each OCI hook stage runs (runtime spec, "POSIX-platform Hooks"), as runc does:
//   - prestart, createRuntime: by the executor, in the runtime's namespaces, once the init
//     has made the container's namespaces and mounts and before it pivots (runCreateHooks);
//   - createContainer: by the init, in the container's namespaces before pivot_root, so
//     the path still resolves in the runtime's filesystem (initCreateHooks);
//   - startContainer: by the init after Start, after pivot_root, before execve;
//   - poststart, poststop: by the monitor after Start and Delete (failures only logged).
// A failing prestart, createRuntime or createContainer hook fails Create, which then
// removes what it made; a failing startContainer hook fails Start.

var errHookState = errors.New("the executor sent no state for the hooks")

// needCreateHooks says whether the init must stop before pivot_root for hooks.
func needCreateHooks(h *specs.Hooks) bool {
	return h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 || len(h.CreateContainer) > 0) //nolint:staticcheck // prestart is deprecated, still run
}

func runCreateHooks(ctx context.Context, h *specs.Hooks, st *specs.State, wait ocihooks.Waiter) error {
	if h == nil {
		return nil
	}
	if err := ocihooks.Run(ctx, "prestart", h.Prestart, st, wait); err != nil { //nolint:staticcheck // prestart is deprecated, still run
		return err
	}
	return ocihooks.Run(ctx, "createRuntime", h.CreateRuntime, st, wait)
}

// initCreateHooks runs in the init before pivot_root: it asks the executor to run the
// runtime-namespace hooks, then runs createContainer with the state it got back.
func initCreateHooks(s *os.File, h *specs.Hooks) error {
	if err := writeMsg(s, syncMsg{Hooks: true}); err != nil {
		return err
	}
	m, err := readMsg(s)
	if err != nil {
		return err
	}
	if m.State == nil {
		return errHookState
	}
	// The init reaps only its own children: exec.Cmd's wait is right here.
	return ocihooks.Run(context.Background(), "createContainer", h.CreateContainer, m.State, nil)
}
