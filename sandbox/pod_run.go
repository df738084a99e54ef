package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
	// One intent record names everything this call may make, so that a crash at any
	// point leaves a record recover() undoes: the shm mount, the netns and the CNI ADD
	// (unmount, DEL and netns removal all accept what was never made). One bbolt commit
	// instead of one per step: each is two fsyncs.
	p.ShmMounted = !hostIPC(cfg)
	if !hostNetwork(cfg) {
		p.NetNS = podInput.NetNSPath
		p.NetworkDown = noNetwork(cfg) // no ADD, so never a DEL
	}
	if err := m.store.putPod(p); err != nil {
		return "", fmt.Errorf("persist pod intent: %w", err)
	}
	var mon Monitor
	var infraPid int
	// The monitor starts, and then makes the infra process, while the netns is made and
	// the CNI plugins run: the infra needs only the netns to exist, not its interfaces.
	// bringUp reports the monitor's start and, once infra is asked for, the infra's
	// creation; every way out waits for it, so what a failed pod started is shut down
	// with it.
	var monStart, bringUp chan error
	waitBringUp := func() error {
		c := bringUp
		if c == nil {
			c = monStart
		}
		if c == nil {
			return nil
		}
		err := <-c
		monStart, bringUp = nil, nil
		return err
	}
	createInfra := func(infra *specs.Spec) {
		started := monStart
		monStart, bringUp = nil, make(chan error, 1)
		go func() {
			defer sendPanic(bringUp)
			if err := <-started; err != nil {
				bringUp <- fmt.Errorf("start pod monitor: %w", err)
				return
			}
			pid, err := mon.CreatePodInfra(ctx, infra)
			if err != nil {
				err = fmt.Errorf("pod infra: %w", err)
			}
			infraPid = pid
			bringUp <- err
		}()
	}
	defer func() {
		r := recover()
		if berr := waitBringUp(); errors.As(berr, new(*goPanic)) {
			// The pod failed for another reason first; the bug still gets a line.
			m.log.Error("panic while bringing a pod up", "pod", p.ID, "error", berr)
		} // else its error is the one returned, or the pod failed before it mattered
		if (err != nil && !m.crashPoint.Load()) || r != nil {
			if rerr := m.releasePod(context.WithoutCancel(ctx), p, mon); rerr != nil {
				m.log.Error("undoing a failed pod creation; its record stays for the next start", "pod", p.ID, "error", rerr)
			}
		}
		if r != nil {
			panic(r) // the RPC wrapper reports it; what existed is undone
		}
	}()
	if err := os.MkdirAll(filepath.Join(p.Dir, "infra-root"), 0o700); err != nil {
		return "", err
	}
	// The monitor and its infra are the longer of the two chains (each about half of
	// RunPodSandbox, the CNI plugins the other): started as soon as the pod dir exists.
	// id, dir and the channel go in as arguments: id is a named result, which a return
	// assigns while this goroutine may still be reading it (the race detector caught it),
	// and createInfra hands monStart on.
	monStart = make(chan error, 1)
	go func(id, dir string, done chan<- error) {
		defer sendPanic(done)
		var err error
		mon, err = m.deps.Runtime.Start(ctx, id, dir, handler)
		done <- err
	}(id, p.Dir, monStart)
	if err := writePodFiles(p.Dir, cfg, nil); err != nil {
		return "", err
	}
	if p.ShmMounted {
		if err := m.deps.Mounter.MountShm(filepath.Join(p.Dir, "shm"), shmSize); err != nil {
			return "", err
		}
	}
	if hostNetwork(cfg) {
		createInfra(infra)
	} else {
		if p.NetNS, err = m.deps.Network.NewNetNS(id); err != nil {
			return "", fmt.Errorf("network namespace: %w", err)
		}
		if p.NetNS != podInput.NetNSPath { // NewNetNS pinned it elsewhere than announced
			podInput.NetNSPath = p.NetNS
			if infra, err = m.deps.Specs.PodSpec(podInput); err != nil {
				return "", err
			}
		}
		// A net.* sysctl may name an interface the CNI plugins make (net.ipv4.conf.eth0.*)
		// or one whose value they set: the infra, which applies the pod's sysctls, then
		// waits for them.
		overlap := p.NetworkDown || !hasNetSysctl(cfg)
		if overlap {
			createInfra(infra)
		}
		if !p.NetworkDown {
			if p.IPs, err = m.deps.Network.Setup(ctx, netPod(p)); err != nil {
				return "", fmt.Errorf("network setup: %w", err)
			}
			if err := writePodFiles(p.Dir, cfg, p.IPs); err != nil {
				return "", err
			}
		}
		if !overlap {
			createInfra(infra)
		}
	}
	if err := waitBringUp(); err != nil {
		if gp := (*goPanic)(nil); errors.As(err, &gp) {
			panic(gp.v) // as if it happened here: the deferred release undoes the pod
		}
		return "", err
	}
	p.InfraPid = infraPid
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

// goPanic carries a panic from a goroutine RunPod started to RunPod's own, which undoes
// the pod and lets the RPC wrapper report it.
type goPanic struct{ v any }

func (p *goPanic) Error() string { return fmt.Sprintf("panic: %v", p.v) }

// sendPanic, deferred first in such a goroutine, sends its panic as a *goPanic on done.
func sendPanic(done chan<- error) {
	if r := recover(); r != nil {
		done <- &goPanic{v: r}
	}
}

// hasNetSysctl tells whether the pod sets a sysctl of the network namespace.
func hasNetSysctl(cfg *runtimeapi.PodSandboxConfig) bool {
	for k := range cfg.GetLinux().GetSysctls() {
		if strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "net/") {
			return true
		}
	}
	return false
}

func netPod(p *Pod) NetPod {
	md := p.Config.GetMetadata()
	return NetPod{
		ID: p.ID, Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid(), NetNS: p.NetNS,
		PortMappings: p.Config.GetPortMappings(), Annotations: p.Config.GetAnnotations(), DNS: p.Config.GetDnsConfig(),
	}
}
