package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/config"
)

// checkRuntimeHandlers: each external handler's runtime binary. crid never needs one, so
// a missing binary is a WARN: only the pods asking for that handler would fail.
func checkRuntimeHandlers(cfg config.Config) []finding {
	var out []finding
	for _, name := range cfg.HandlerNames() {
		h := cfg.RuntimeHandlers[name]
		if !h.External() {
			continue
		}
		check := "runtime handler " + name
		if err := executable(h.RuntimePath); err != nil {
			out = append(out, finding{Check: check, Status: checkWarn, Detail: err.Error() + ": its pods will fail",
				Fix: "install the runtime (e.g. Debian's runc or crun package) or remove [runtime_handlers." + name + "]"})
			continue
		}
		out = append(out, finding{Check: check, Status: checkOK, Detail: h.RuntimePath})
	}
	return out
}

// executable says why path is not a program crid can run, or nil.
func executable(path string) error {
	if err := unix.Access(path, unix.X_OK); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
