package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox/spec"
)

// RunPod creates and starts a pod sandbox and returns its id. A retry with the same
// metadata while the first call works gets the first call's result. A failure leaves
// nothing behind.
func (m *Manager) RunPod(ctx context.Context, cfg *runtimeapi.PodSandboxConfig, handler string) (string, error) {
	if err := m.validatePod(cfg, handler); err != nil {
		return "", err
	}
	key := podKey(cfg.Metadata)
	return m.podNames.do(ctx, key, func(ctx context.Context) (string, error) {
		if other, oe, clash := m.pods.named(key); clash {
			existing := oe.snap.Load()
			// kubelet never asks twice for one attempt except to retry a call whose
			// answer it lost (its deadline can pass just as the pod is finished), so a
			// ready pod with these metadata is that call's result (cri-tools allows it).
			if existing.State == PodReady && existing.Phase == PhaseCreated {
				return other, nil
			}
			return "", fmt.Errorf("pod sandbox name %q (attempt %d) is already used by pod %s: %w",
				cfg.Metadata.Name, cfg.Metadata.Attempt, other, errdefs.ErrAlreadyExists)
		}
		return m.runPod(ctx, cfg, handler)
	})
}

func (m *Manager) validatePod(cfg *runtimeapi.PodSandboxConfig, handler string) error {
	if cfg == nil {
		return fmt.Errorf("config: missing: %w", errdefs.ErrInvalidArgument)
	}
	md := cfg.Metadata
	if md == nil {
		return fmt.Errorf("config.metadata: missing: %w", errdefs.ErrInvalidArgument)
	}
	if md.Name == "" {
		return fmt.Errorf("config.metadata.name: empty: %w", errdefs.ErrInvalidArgument)
	}
	h, ok := m.handler(handler)
	if !ok {
		return fmt.Errorf("runtime_handler %q: no such handler (known: %q): %w", handler, m.handlerNames(), errdefs.ErrNotFound)
	}
	// Before anything is made: a kernel whose overlayfs cannot sit on idmapped
	// layers (or without idmapped mounts, before 5.12) has no way to give the
	// pod its own user namespace, and Status does not advertise one.
	// (No userns_options means the node's: POD is the enum's zero.)
	if userns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetUsernsOptions(); userns != nil &&
		userns.GetMode() == runtimeapi.NamespaceMode_POD && !h.Features.UserNamespaces {
		if handler != "" && m.cfg.Features.UserNamespaces {
			// The node could: the handler's runtime does not say it can (user_namespaces).
			return fmt.Errorf("config.linux.security_context.namespace_options.userns_options: runtime handler %q does not support "+
				"user namespaces (user_namespaces in its [runtime_handlers] table): %w", handler, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("config.linux.security_context.namespace_options.userns_options: user namespaces are not supported on this node "+
			"(its kernel lacks idmapped mounts or overlayfs on idmapped layers; see the verbose Status, info.kernel): %w", errdefs.ErrFailedPrecondition)
	}
	if !hostNetwork(cfg) && !noNetwork(cfg) {
		if err := m.deps.Network.Ready(); err != nil {
			return fmt.Errorf("pod network is not ready: %v: %w", err, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}

// runPod does the work in an order a crash can be recovered from: the intent record is
// stored before anything is made, and every later step is one recover() knows how to undo
// (see releasePod).
func (m *Manager) runPod(ctx context.Context, cfg *runtimeapi.PodSandboxConfig, handler string) (id string, err error) {
	id = newID()
	p := &Pod{
		ID: id, Config: cfg, RuntimeHandler: handler, State: PodNotReady, Phase: PhaseCreating,
		CreatedAt: time.Now(), Dir: m.podDir(id),
	}
	// The infra spec first: it validates the config (sysctls, seccomp, user namespace
	// mappings...), so bad input is refused before anything is made. The netns path is
	// known ahead (NetNSPath).
	podInput := spec.PodInput{ID: id, Config: cfg, RootPath: filepath.Join(p.Dir, "infra-root"), Host: m.cfg.SpecHost}
	if !hostNetwork(cfg) {
		podInput.NetNSPath = m.deps.Network.NetNSPath(id)
	}
	infra, err := m.deps.Specs.PodSpec(podInput)
	if err != nil {
		return "", err
	}
	if err := m.store.putPod(p); err != nil {
		return "", fmt.Errorf("persist pod intent: %w", err)
	}
	var mon Monitor
	// The monitor starts while the netns is made and the CNI plugins run (each about half
	// of RunPodSandbox): it needs neither. Every way out waits for that start, so a
	// monitor started for a pod that failed is shut down with it.
	var monStart chan error
	waitMonitor := func() error {
		if monStart == nil {
			return nil
		}
		err := <-monStart
		monStart = nil
		return err
	}
	defer func() {
		r := recover()
		_ = waitMonitor() // its error is the one returned, or the pod failed before it mattered
		if (err != nil && !m.crashPoint.Load()) || r != nil {
			if rerr := m.releasePod(context.WithoutCancel(ctx), p, mon); rerr != nil {
				m.log.Error("undoing a failed pod creation; its record stays for the next start", "pod", p.ID, "error", rerr)
			}
		}
		if r != nil {
			panic(r) // the RPC wrapper reports it; what existed is undone
		}
	}()
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return "", err
	}
	if err := writePodFiles(p.Dir, cfg, nil); err != nil {
		return "", err
	}
	if !hostIPC(cfg) {
		p.ShmMounted = true // set first: a crash after mounting must unmount
		if err := m.store.putPod(p); err != nil {
			return "", err
		}
		if err := m.deps.Mounter.MountShm(filepath.Join(p.Dir, "shm"), shmSize); err != nil {
			return "", err
		}
	}
	monStart = make(chan error, 1)
	// id and dir go in as arguments: id is a named result, which a return assigns while
	// this goroutine may still be reading it (the race detector caught it).
	go func(id, dir string) {
		var err error
		mon, err = m.deps.Runtime.Start(ctx, id, dir, handler)
		monStart <- err
	}(id, p.Dir)
	if !hostNetwork(cfg) {
		// Stored before the netns and the ADD: a crash during either leaves a record
		// recover() DELs and removes (both idempotent).
		p.NetNS = m.deps.Network.NetNSPath(id)
		p.NetworkDown = noNetwork(cfg) // no ADD, so never a DEL
		if err := m.store.putPod(p); err != nil {
			return "", err
		}
		if p.NetNS, err = m.deps.Network.NewNetNS(id); err != nil {
			return "", fmt.Errorf("network namespace: %w", err)
		}
		if !p.NetworkDown {
			if p.IPs, err = m.deps.Network.Setup(ctx, netPod(p)); err != nil {
				return "", fmt.Errorf("network setup: %w", err)
			}
		}
		if err := writePodFiles(p.Dir, cfg, p.IPs); err != nil {
			return "", err
		}
	}
	if err := waitMonitor(); err != nil {
		return "", fmt.Errorf("start pod monitor: %w", err)
	}
	if p.NetNS != podInput.NetNSPath { // NewNetNS pinned it elsewhere than announced
		podInput.NetNSPath = p.NetNS
		if infra, err = m.deps.Specs.PodSpec(podInput); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Join(p.Dir, "infra-root"), 0o700); err != nil {
		return "", err
	}
	if p.InfraPid, err = mon.CreatePodInfra(ctx, infra); err != nil {
		return "", fmt.Errorf("pod infra: %w", err)
	}
	p.State, p.Phase = PodReady, PhaseCreated
	if err := m.store.putPod(p); err != nil {
		return "", err
	}
	e := &podEntry{}
	e.snap.Store(p)
	e.mon.Store(&monitorRef{mon})
	m.pods.add(id, p.key(), e)
	m.watch(e, mon)
	m.events.publish(Event{Type: EventCreated, ID: id, Pod: p, At: m.now()})
	m.events.publish(Event{Type: EventStarted, ID: id, Pod: p, At: m.now()})
	m.log.Info("pod sandbox ready", "pod", id, "name", cfg.Metadata.Name, "namespace", cfg.Metadata.Namespace, "ips", p.IPs)
	m.nriPodEvent(ctx, "RunPodSandbox", p, NRI.RunPod)
	return id, nil
}

func netPod(p *Pod) NetPod {
	md := p.Config.GetMetadata()
	return NetPod{
		ID: p.ID, Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid(), NetNS: p.NetNS,
		PortMappings: p.Config.GetPortMappings(), Annotations: p.Config.GetAnnotations(), DNS: p.Config.GetDnsConfig(),
	}
}
