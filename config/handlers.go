package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
)

// BuiltinHandler is the name under which the built-in executor is also reachable (the
// empty handler, kubelet's default, is always the built-in executor).
const BuiltinHandler = "crid"

// RuntimeHandler is one `[runtime_handlers.NAME]` table: a RuntimeClass handler. Without
// runtime_path it is crid's built-in executor; with one, the pod's crid-monitor drives that
// OCI runtime binary (runc, crun...) through its command line, as conmon does.
type RuntimeHandler struct {
	RuntimePath string   `toml:"runtime_path" comment:"An OCI runtime binary (absolute path) the pod's crid-monitor drives through its CLI\n(create/start/exec/update/delete), e.g. /usr/sbin/runc or /usr/bin/crun. Empty: the built-in executor."`
	RuntimeRoot string   `toml:"runtime_root" comment:"The runtime's state dir (its --root). Empty: <state>/runtimes/<name>. External runtimes only."`
	RuntimeArgs []string `toml:"runtime_args" comment:"Extra global arguments given before each runtime command (e.g. [\"--debug\"]). External runtimes only."`
	// The features cannot be asked of every external runtime: the operator says what it
	// supports, and Status advertises each only where the kernel can do it too.
	UserNamespaces          bool `toml:"user_namespaces" comment:"The runtime supports pods with user namespaces (idmapped mounts); advertised in Status. External runtimes only:\nthe built-in executor's support is probed."`
	RecursiveReadOnlyMounts bool `toml:"recursive_read_only_mounts" comment:"The runtime supports recursive read-only mounts (\"rro\"); advertised in Status. External runtimes only."`
	// PrivilegedWithoutHostDevices: privileged containers of this handler get no host devices.
	PrivilegedWithoutHostDevices bool              `toml:"privileged_without_host_devices" comment:"Privileged containers of this handler get all capabilities but none of the host's devices (nor may\nthey mknod one: the device rules stay an unprivileged container's, plus the devices the request names)."`
	DefaultAnnotations           map[string]string `toml:"default_annotations" comment:"Annotations added to the OCI spec of each container of this handler unless the request sets the key."`
}

// External reports whether the handler names an OCI runtime binary.
func (h RuntimeHandler) External() bool { return h.RuntimePath != "" }

// handlerName is what a RuntimeClass handler may be: a DNS label (RFC 1123).
var handlerName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// HandlerNames lists the configured handlers by name.
func (c *Config) HandlerNames() []string {
	names := make([]string, 0, len(c.RuntimeHandlers))
	for n := range c.RuntimeHandlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// validateHandlers checks each [runtime_handlers.NAME] table; the error names the key.
func (c *Config) validateHandlers() error {
	for _, name := range c.HandlerNames() {
		h := c.RuntimeHandlers[name]
		key := "runtime_handlers." + name
		if !handlerName.MatchString(name) {
			return fmt.Errorf("config: %s: a handler name must be a DNS label (lower case letters, digits, '-'; at most 63)", key)
		}
		if h.RuntimePath != "" && !filepath.IsAbs(h.RuntimePath) {
			return fmt.Errorf("config: %s.runtime_path must be an absolute path, got %q", key, h.RuntimePath)
		}
		if h.RuntimeRoot != "" && !filepath.IsAbs(h.RuntimeRoot) {
			return fmt.Errorf("config: %s.runtime_root must be an absolute path, got %q", key, h.RuntimeRoot)
		}
		if !h.External() {
			for k, set := range map[string]bool{
				"runtime_root": h.RuntimeRoot != "", "runtime_args": len(h.RuntimeArgs) > 0,
				"user_namespaces": h.UserNamespaces, "recursive_read_only_mounts": h.RecursiveReadOnlyMounts,
			} {
				if set {
					return fmt.Errorf("config: %s.%s is only for an external runtime (set runtime_path); the built-in executor's features are probed", key, k)
				}
			}
		}
		for i, a := range h.RuntimeArgs {
			if a == "" {
				return fmt.Errorf("config: %s.runtime_args[%d] is empty", key, i)
			}
		}
		for k := range h.DefaultAnnotations {
			if k == "" {
				return fmt.Errorf("config: %s.default_annotations: an empty key", key)
			}
		}
	}
	return nil
}

// handlerExamples ends `crid config default`: external handlers are not defaults (crid
// never needs a runtime binary), so they are shown commented out.
const handlerExamples = `
# External OCI runtimes as RuntimeClass handlers (Debian packages runc and crun), e.g. in
# /etc/crid/crid.d/50-runtimes.toml; a RuntimeClass with handler: runc then selects it:
#
# [runtime_handlers.runc]
# runtime_path = '/usr/sbin/runc'
#
# [runtime_handlers.crun]
# runtime_path = '/usr/bin/crun'
# recursive_read_only_mounts = true
# [runtime_handlers.crun.default_annotations]
# 'run.oci.keep_original_groups' = '1'
`
