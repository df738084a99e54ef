package main

// launch.c is the monitor's detach at launch (api.DetachEnv): a C constructor, so
// that it runs before the Go runtime starts, in the process crid started.

// #cgo CFLAGS: -Wall -O2
import "C"
