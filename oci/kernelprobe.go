package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// ProbeKernelArg (os.Args[1]) makes the monitor binary print this kernel's
// features as JSON and exit (kernel.ProbeArg).
const ProbeKernelArg = kernel.ProbeArg

// HostKernel probes this kernel once per process (on first use) and returns
// how the executor mounts what it mounts here. Without userNS the probes that
// need a user namespace (a process to hold it: a few ms) are left out, and
// the result says nothing about user namespaces.
func HostKernel(userNS bool) *kernel.Features {
	if userNS {
		return hostKernelFull()
	}
	return hostKernelBasic()
}

var (
	hostKernelBasic = sync.OnceValue(func() *kernel.Features {
		f := kernel.Decide(kernel.Run(kernel.Options{}))
		return &f
	})
	hostKernelFull = sync.OnceValue(func() *kernel.Features {
		f := ProbeKernel("")
		return &f
	})
)

// ProbeKernel runs every kernel probe with scratch dirs under dir.
func ProbeKernel(dir string) kernel.Features {
	return kernel.Decide(kernel.Run(kernel.Options{Dir: dir, UserNS: probeUserNS}))
}

// probeUserNS holds a user namespace mapping root to an unprivileged range
// (the ids need not exist) for the idmapped mount probes.
func probeUserNS() (int, func(), error) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1 << 30, Size: 65536}}
	fd, err := userNSFor(m, m)
	if err != nil {
		return -1, nil, err
	}
	return fd, func() { unix.Close(fd) }, nil
}

// ProbeKernelMain is the entry point of ProbeKernelArg: the features of this
// kernel as JSON on stdout, scratch dirs under os.Args[2] when given.
func ProbeKernelMain() {
	dir := ""
	if len(os.Args) > 2 {
		dir = os.Args[2]
	}
	if err := json.NewEncoder(os.Stdout).Encode(ProbeKernel(dir)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
