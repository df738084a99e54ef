//go:build crid_procexec

package main

import (
	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/oci/monitor/server"
)

// A test build (-tags crid_procexec): containers are plain processes, so the
// monitor can be tested without root and without the executor.
func newExecutor(*kernel.Features) server.Executor { return server.NewProcessExecutor() }

func dispatchExecutorModes() {}
