package main

import (
	"log/slog"
	"path/filepath"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/oci/monitor"
	"github.com/crid-dev/crid/sandbox"
)

// runtimeHandlers turns the [runtime_handlers.NAME] tables into what the sandbox
// advertises and accepts, and the external runtimes pod monitors drive (by handler name).
// builtin are the built-in executor's probed features; an external runtime's are what
// the operator declared (crid cannot ask every runtime), where the kernel allows them.
func runtimeHandlers(cfg config.Config, builtin sandbox.Features, log *slog.Logger) ([]sandbox.Handler, map[string]monitor.Runtime) {
	var hs []sandbox.Handler
	rts := map[string]monitor.Runtime{}
	for _, name := range cfg.HandlerNames() {
		h := cfg.RuntimeHandlers[name]
		sh := sandbox.Handler{
			Name: name, Features: builtin,
			PrivilegedWithoutHostDevices: h.PrivilegedWithoutHostDevices, DefaultAnnotations: h.DefaultAnnotations,
		}
		if h.External() {
			sh.Features = sandbox.Features{
				RecursiveReadOnlyMounts:  h.RecursiveReadOnlyMounts,
				UserNamespaces:           h.UserNamespaces && userNamespacesEnabled(),
				SupplementalGroupsPolicy: builtin.SupplementalGroupsPolicy, // crid resolves the groups into the spec
			}
			root := h.RuntimeRoot
			if root == "" {
				root = filepath.Join(cfg.State, "runtimes", name)
			}
			rts[name] = monitor.Runtime{Path: h.RuntimePath, Root: root, Args: h.RuntimeArgs}
			// crid never needs it: a missing binary fails only the pods that ask for it.
			if err := executable(h.RuntimePath); err != nil {
				log.Warn("runtime handler's runtime_path is not an executable file: its pods will fail", "handler", name, "error", err)
			}
		}
		hs = append(hs, sh)
	}
	return hs, rts
}
