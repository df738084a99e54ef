// Package sandbox is crid's domain: pods and their containers, their state machine, an
// in-memory index that serves List*/Status without touching the executor, the disk or the
// network, persistence in bbolt, and container events.
//
// # Seams
//
// It consumes small interfaces it defines itself (Images, Network, Runtime/Monitor, Specs,
// Mounter in deps.go) so that its unit tests run on fakes (sandboxtest) without root.
// sandbox/wire adapts the real images, cni, oci/monitor and sandbox/spec packages:
//
//	m, err := sandbox.New(ctx, sandbox.Config{Root: root, State: state, Features: f, SpecHost: h},
//		wire.Deps(imageService, cniManager, wire.MonitorOptions{Binary: monitorPath}), log)
//
// # States
//
// A pod is READY from RunPod until StopPod (or its infra or monitor dies), then NOTREADY
// until RemovePod. A container is CREATED (its process waits before execve), RUNNING
// after StartContainer, EXITED when the monitor reports the exit (or the monitor is
// gone). Every transition is announced once on Subscribe.
//
// # Crash safety
//
// Each multi-step operation first stores an intent record (Phase "creating" or
// "removing") and records each resource before making it (the netns path, the shm mount,
// image-mount snapshots). recover() at New rolls back what is still "creating", finishes
// what is "removing", reconnects to every monitor and learns the exits that happened while
// crid was down. The release steps (releasePod, releaseContainer: shared by a failed
// create, recover() and Remove) are all idempotent, so a crash during one is fine too.
// A state change is written to the store before it is published in memory: a failed
// write fails the call and changes nothing; a record that does not decode is moved to a
// quarantine bucket and reported.
//
// # Locking
//
// Readers load immutable snapshots; a slow operation holds only its own object's lock
// (see Manager), so kubelet's relist never waits for a stuck container (containerd #9770).
package sandbox
