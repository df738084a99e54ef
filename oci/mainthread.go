package oci

import "runtime"

// The main thread must never be lent out for a namespace join. A goroutine that
// exits while locked after setns gets its thread killed — except the main thread,
// which Go parks forever instead. A parked main thread would keep the process's
// /proc/self view (the thread-group leader's) inside a pod's namespaces, and exec
// compares against /proc/self/ns to decide what to join. Locking the main thread to
// the main goroutine at init keeps every join on a throwaway thread; this is the
// documented use of LockOSThread in an init function.
func init() { runtime.LockOSThread() }
