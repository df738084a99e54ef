// Package nsenter links the executor's C constructor (nsenter.c) into a
// binary: it runs before the Go runtime starts any thread, in every process
// of the binary, and does nothing unless package oci started that process
// (_CRID_MODE, _CRID_NSENTER or _CRID_PAUSE set). Only the binary that package oci
// re-executes for the container init, exec and pause (cmd/crid-monitor, and
// the oci test binary) imports it, for its side effect, as runc's init
// imports libcontainer/nsenter:
//
//	import _ "github.com/crid-dev/crid/oci/nsenter"
//
// The daemon never links it (cmd/crid's TestNoExecutorLinked checks).
package nsenter

// #cgo CFLAGS: -Wall -O2
// extern void crid_nsenter_linked(void);
import "C"
