// Package cgroups is crid's cgroup handling: resolving a spec's
// linux.cgroupsPath, creating a container's cgroup with its limits, placing
// processes in it, updating it live, reading its statistics and OOM kills,
// and destroying it. It works on the unified hierarchy (v2) and on a v1 or
// hybrid host.
//
// It is a leaf package: no crid package is imported, no package state is
// kept. The host's layout is a value (Tree) that callers detect once
// (HostTree) and pass on, so tests drive the v2 code on a fake tree by
// passing another one.
//
// The executor (package oci) uses it inside the monitor to create and place
// containers; the daemon uses it to clean up after a dead monitor.
package cgroups
