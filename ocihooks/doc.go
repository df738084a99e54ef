// Package ocihooks is crid's OCI hooks support, both halves: the daemon reads hooks.d
// directories (the schema 1.0.0 files CRI-O and podman read) and adds the hooks that match
// a container to its spec (Read, Hook.Matches, Add); the executor runs a spec's hooks at
// each lifecycle stage with the container's state on stdin and a timeout (Run).
// It imports no crid package and only the standard library besides the runtime spec, so
// the per-pod monitor may link it.
package ocihooks
