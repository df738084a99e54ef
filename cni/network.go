package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/crid-dev/crid/errdefs"
)

// PortMapping is a CRI port mapping; Protocol is "tcp" (default), "udp" or "sctp".
type PortMapping struct {
	HostPort, ContainerPort int32
	Protocol, HostIP        string
}

// Pod is what the plugins need to know about a pod.
type Pod struct {
	ID, Name, Namespace, UID, NetNS string
	PortMappings                    []PortMapping
	Annotations                     map[string]string // kubernetes.io/ingress-bandwidth, egress-bandwidth
	DNS                             *DNS              // servers, searches, options (capability "dns")
}

// DNS is the pod's resolver config, passed to plugins with capability "dns".
type DNS struct{ Servers, Searches, Options []string }

// Result is the outcome of Setup.
type Result struct {
	IPs []string // primary first: IPv4 before IPv6, each in the plugins' order
}

// rollbackTimeout bounds the DEL that undoes a failed ADD.
const rollbackTimeout = 1 * time.Minute

// Setup attaches the pod's namespace to the network (CNI ADD) and returns the
// pod's addresses. On failure it runs DEL so plugins release what they made
// (addresses, veth, iptables rules); removing the netns is the caller's job.
func (m *Manager) Setup(ctx context.Context, pod Pod) (*Result, error) {
	if pod.ID == "" || pod.NetNS == "" {
		return nil, fmt.Errorf("cni: setup needs a pod ID and a netns path: %w", errdefs.ErrInvalidArgument)
	}
	rt, err := m.runtimeConf(pod)
	if err != nil {
		return nil, err
	}
	if !isNetNS(pod.NetNS) {
		return nil, fmt.Errorf("cni: pod %q: %s is not a network namespace: %w", pod.ID, pod.NetNS, errdefs.ErrFailedPrecondition)
	}
	list, err := m.current()
	if err != nil {
		return nil, err
	}
	res, err := m.add(ctx, list, rt)
	if err != nil {
		m.rollback(ctx, list, rt)
		if cerr := ctx.Err(); cerr != nil {
			// The plugin was killed; say why, so the caller sees a
			// deadline or cancellation rather than "signal: killed".
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return nil, fmt.Errorf("cni: pod %q: ADD on network %q: %w", pod.ID, list.Name, err)
	}
	ips, err := podIPs(res)
	if err != nil {
		m.rollback(ctx, list, rt)
		return nil, fmt.Errorf("cni: pod %q: network %q: %w", pod.ID, list.Name, err)
	}
	slog.Debug("cni: pod attached", "pod", pod.ID, "network", list.Name, "ips", ips)
	return &Result{IPs: ips}, nil
}

// rollback undoes a failed or unusable ADD with a DEL. It gets its own
// deadline: an expired caller context is a common cause of the failure.
func (m *Manager) rollback(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := m.del(rctx, list, rt); err != nil {
		slog.Error("cni: rollback of ADD failed", "pod", rt.ContainerID, "network", list.Name, "err", err)
	}
}

// Teardown detaches the pod (CNI DEL). It is idempotent, and works when the
// netns is already gone (plugins then only release addresses and rules), when
// the config changed since Setup, and after a daemon restart: the network
// config and arguments cached by libcni at ADD are used when present, so the
// DEL reaches the network the pod was really attached to.
func (m *Manager) Teardown(ctx context.Context, pod Pod) error {
	if pod.ID == "" {
		return fmt.Errorf("cni: teardown needs a pod ID: %w", errdefs.ErrInvalidArgument)
	}
	list, rt, err := m.attachment(pod)
	if err != nil {
		return err
	}
	if list == nil {
		// No config and nothing cached: no ADD of ours can be outstanding
		// (a successful ADD is always cached), so there is nothing to undo.
		slog.Debug("cni: teardown with no network config and no cached attachment", "pod", pod.ID)
		return nil
	}
	// A gone or unmounted netns is passed as "", as kubelet and containerd
	// do: plugins skip the namespace work but still free addresses and rules.
	if !isNetNS(rt.NetNS) {
		rt.NetNS = ""
	}
	if err := m.del(ctx, list, rt); err != nil {
		return fmt.Errorf("cni: pod %q: DEL on network %q: %w", pod.ID, list.Name, err)
	}
	slog.Debug("cni: pod detached", "pod", pod.ID, "network", list.Name, "netns", rt.NetNS)
	return nil
}

// Check asks the plugins whether the pod's network is still as set up (CNI
// CHECK). Configs older than CNI 0.4.0 have no CHECK; that is nil, not an error.
func (m *Manager) Check(ctx context.Context, pod Pod) (err error) {
	if pod.ID == "" {
		return fmt.Errorf("cni: check needs a pod ID: %w", errdefs.ErrInvalidArgument)
	}
	list, rt, err := m.attachment(pod)
	if err != nil {
		return err
	}
	if list == nil {
		return m.Ready() // not ready: say why
	}
	if ok, verr := version.GreaterThanOrEqualTo(list.CNIVersion, "0.4.0"); verr != nil || !ok || list.DisableCheck {
		return nil
	}
	if !isNetNS(rt.NetNS) {
		return fmt.Errorf("cni: pod %q: netns %q is gone: %w", pod.ID, rt.NetNS, errdefs.ErrFailedPrecondition)
	}
	defer observe("check", time.Now(), &err)
	if err := m.cni.CheckNetworkList(ctx, list, rt); err != nil {
		if errors.Is(err, libcni.ErrorCheckNotSupp) {
			return nil
		}
		return fmt.Errorf("cni: pod %q: CHECK on network %q: %w", pod.ID, list.Name, err)
	}
	return nil
}

func (m *Manager) add(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (res types.Result, err error) {
	defer observe("add", time.Now(), &err)
	return m.cni.AddNetworkList(ctx, list, rt)
}

func (m *Manager) del(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (err error) {
	defer observe("del", time.Now(), &err)
	return m.cni.DelNetworkList(ctx, list, rt)
}

// attachment returns the network and invocation for DEL/CHECK of pod: the
// ones cached at ADD when present, else the current config with the pod's
// arguments. list is nil (with no error) when neither exists.
func (m *Manager) attachment(pod Pod) (*libcni.NetworkConfigList, *libcni.RuntimeConf, error) {
	atts, err := m.cni.GetCachedAttachments(pod.ID)
	if err != nil {
		slog.Warn("cni: reading cached attachments", "pod", pod.ID, "err", err)
	}
	for _, a := range atts {
		if a.IfName != podIfName {
			continue
		}
		list, err := libcni.NetworkConfFromBytes(a.Config)
		if err != nil || len(list.Plugins) == 0 {
			slog.Warn("cni: unusable cached network config, using the current one", "pod", pod.ID, "err", err)
			break
		}
		return list, &libcni.RuntimeConf{
			ContainerID:    a.ContainerID,
			NetNS:          pod.NetNS,
			IfName:         a.IfName,
			Args:           a.CniArgs,
			CapabilityArgs: a.CapabilityArgs,
		}, nil
	}
	rt, err := m.runtimeConf(pod)
	if err != nil {
		// Bad ports must not block teardown: DEL without them still frees
		// the address, and no rule can exist for ports ADD refused.
		pod.PortMappings, pod.Annotations = nil, nil
		if rt, err = m.runtimeConf(pod); err != nil {
			return nil, nil, err
		}
	}
	list, err := m.current()
	if err != nil {
		return nil, rt, nil
	}
	return list, rt, nil
}

// podIPs picks the pod's addresses from an ADD result: those on interfaces
// inside the pod's netns (or not tied to an interface), never loopback.
func podIPs(res types.Result) ([]string, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("converting result: %w", err)
	}
	var v4, v6 []string
	for _, ipc := range r.IPs {
		if ipc.Interface != nil {
			i := *ipc.Interface
			if i < 0 || i >= len(r.Interfaces) || r.Interfaces[i].Sandbox == "" {
				continue
			}
		}
		ip := ipc.Address.IP
		if ip.IsLoopback() {
			continue
		}
		if ip.To4() != nil {
			v4 = append(v4, ip.String())
		} else {
			v6 = append(v6, ip.String())
		}
	}
	ips := append(v4, v6...)
	if len(ips) == 0 {
		return nil, errors.New("the plugins returned no pod address")
	}
	return ips, nil
}
