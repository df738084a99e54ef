// Package monitor is crid's client of the per-pod monitor: the process, one per
// pod, that is the parent of the pod's containers (cmd/crid-monitor, server in
// oci/monitor/server, wire protocol and on-disk layout in oci/monitor/api).
//
// The monitor is started by Start, or started ahead as a Spare that the pod adopts
// (Spares keeps them, daemon-wide options only: the pod's id and state dir come at
// the adoption), lives in its own session as a child
// subreaper, and outlives crid: after a restart crid calls Connect and learns of
// the exits it missed from List/State and from Events, which replays every
// recorded exit on each (re)connection. A monitor that was itself killed is seen
// as Connect failing with errdefs.ErrUnavailable; Cleanup then kills what it
// left running (pids verified by start time) and destroys their cgroups.
//
// Errors wrap errdefs kinds: ErrNotFound for an unknown container id,
// ErrFailedPrecondition for a container in the wrong state (Start of a started
// one, Delete of a running one, Exec/Attach on a stopped one), ErrAlreadyExists
// for a second Create of an id, ErrInvalidArgument for bad input and
// ErrUnavailable when the monitor does not answer.
//
// Details beyond the seam in DEVELOPERS.md:
//   - StartOptions.MaxLogLine sets where long log lines are split (16 KiB by default).
//   - State is an alias of api.State. Container stats are not the monitor's: the
//     daemon reads them from the cgroup itself (package cgroups).
//   - The pod infra process is reported by State(ctx, InfraID) and in Events
//     under ID InfraID; List leaves it out.
//   - Kill of a stopped container is not an error; Delete of an unknown id neither.
//   - Events may deliver an exit more than once (replays); the channel closes
//     when the monitor is gone or the Client is closed.
//   - CreateRequest.Terminal overrides Spec.Process.Terminal.
//   - Attach with a nil stdout or stderr does not receive that stream.
//   - Shutdown returns once the monitor has killed the pod's processes, removed
//     their cgroups and is exiting; it removes its directory (api.Dir).
//
// Files, in the monitor's own 0700 directory <StateDir>/monitor (see package api):
// sock (the socket), pid ("<pid> <start time> <boot id>"), log (the monitor's own
// log) and containers/<id>/{state.json,spec.json,exec/}; state.json is rewritten
// atomically (temp file, rename; not synced: api.WriteFileAtomic) on create, start
// and exit.
//
// The monitor stays in the cgroup of the process that started it: a crid run by
// systemd needs KillMode=process (as containerd's unit), or stopping crid kills
// every pod's monitor.
//
// The protocol is length-prefixed JSON frames on a unix socket in a 0700
// directory (never an abstract socket). A unary call takes a kept idle
// connection (at most two are kept) or dials; calls never share a connection in
// flight. Exec and attach carry their stdio as frames on a connection of their
// own, whose closing is the cancel. Measured (BenchmarkState, BenchmarkExecOutput):
// a State round trip takes ~50 µs on a kept connection (~110 µs dialling each
// time), exec output streams at ~420 MB/s. It was chosen over ttrpc because ttrpc needs generated protobuf code
// and links the protobuf runtime into every pod's monitor; this costs a few
// hundred lines and no dependency.
package monitor
