// Package cri is the CRI v1 gRPC surface of crid. It is thin: it validates a request, calls
// the domain (sandbox, images) and maps the result back. One file per RPC group.
package cri

import (
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/images"
	"github.com/crid-dev/crid/sandbox"
)

// Deps are the domain services the CRI handlers call. cmd/crid wires them.
type Deps struct {
	Log          *slog.Logger
	Version      string
	CgroupDriver string // "cgroupfs" or "systemd"
	// Runtime reports whether containers can be run (executor usable, monitor present).
	Runtime interface{ Ready() error }
	// Network reports whether pod networking is ready (a CNI config is loaded).
	Network interface{ Ready() error }
	// StatusExtras adds runtime handlers, features and verbose info to a Status response.
	StatusExtras func(resp *runtimeapi.StatusResponse, verbose bool)
	// Info returns what a verbose Status reports under info (config summary, versions,
	// feature probes), each value marshalled to JSON under its key.
	Info func() map[string]any
	// Images serves the ImageService.
	Images *images.Service
	// Sandbox serves the RuntimeService pod and container RPCs.
	Sandbox *sandbox.Manager
	// Streaming hands out exec/attach/port-forward URLs (NewStreamServer).
	Streaming *StreamServer
}

// Server implements RuntimeServiceServer and ImageServiceServer.
type Server struct {
	// Embedded only so the type satisfies the interfaces while RPCs land; every RPC crid
	// serves is defined on Server, the rest answer Unimplemented and are listed in README.
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	Deps

	// done is closed by Shutdown so long-lived streams end and a graceful stop is quick.
	done     chan struct{}
	shutdown sync.Once
}

// NewServer returns the CRI server over deps.
func NewServer(deps Deps) *Server {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	return &Server{Deps: deps, done: make(chan struct{})}
}

// Shutdown ends the open event streams; kubelet reconnects to the next daemon.
func (s *Server) Shutdown() { s.shutdown.Do(func() { close(s.done) }) }

// Register adds both CRI services and the gRPC health service to g.
func (s *Server) Register(g *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(g, s)
	runtimeapi.RegisterImageServiceServer(g, s)
	healthpb.RegisterHealthServer(g, &healthServer{s: s})
}
