package sandbox

import "sync/atomic"

// crashPoint, when set, makes a failed RunPod or CreateContainer return without rolling
// back, leaving what
// a daemon crash at that step would leave, so tests can check that recover() cleans it up
// (containerd tests the same with failpoint binaries).
var crashPoint atomic.Bool

// SetCrashPoint is for tests only.
func SetCrashPoint(on bool) { crashPoint.Store(on) }
