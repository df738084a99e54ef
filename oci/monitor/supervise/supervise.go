// Package supervise links crid-monitor's C steady state (supervise.c) into the
// binary: an idle Go monitor execs its own binary in place (same pid) with
// _CRID_SUPERVISE=<memfd> naming a handover (handover.c has the format), and
// this package's C constructor, which runs before the Go runtime, supervises
// the pod in one small thread — exits recorded and published, output copied to
// the CRI logs, orphans reaped — until the daemon connects or a signal
// arrives; then it execs the Go monitor again with --resume and the handover as
// it updated it. A Go runtime per pod costs at least ~1.2 MiB; this ~0.15 MiB
// (issue 16).
//
// Without _CRID_SUPERVISE the constructor returns at once. Only cmd/crid-monitor
// (and this package's tests) import it, for its side effect:
//
//	import _ "github.com/crid-dev/crid/oci/monitor/supervise"
package supervise

// #cgo CFLAGS: -Wall -O2
// extern void crid_supervise_linked(void);
import "C"

// Env names the memfd holding the handover for the C steady state.
const Env = "_CRID_SUPERVISE"
