package oci

// #cgo CFLAGS: -Wall -O2
// extern void crid_nsenter_linked(void);
import "C"
