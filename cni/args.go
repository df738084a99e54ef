package cni

import (
	"fmt"
	"math"
	"math/big"
	"net"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"github.com/crid-dev/crid/errdefs"
)

// Pod annotations kubelet's bandwidth shaping reads (bits per second, as
// Kubernetes quantities).
const (
	IngressBandwidthAnnotation = "kubernetes.io/ingress-bandwidth"
	EgressBandwidthAnnotation  = "kubernetes.io/egress-bandwidth"
)

// podIfName is the pod's interface, as every Kubernetes runtime names it.
const podIfName = "eth0"

// The runtimeConfig shapes plugins expect for each capability (CNI
// CONVENTIONS.md). libcni passes each only to plugins declaring it.
type portMapEntry struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

type bandwidthEntry struct {
	IngressRate  uint64 `json:"ingressRate,omitempty"`
	IngressBurst uint64 `json:"ingressBurst,omitempty"`
	EgressRate   uint64 `json:"egressRate,omitempty"`
	EgressBurst  uint64 `json:"egressBurst,omitempty"`
}

type ipRange struct {
	Subnet string `json:"subnet"`
}

type dnsEntry struct {
	Servers  []string `json:"servers,omitempty"`
	Searches []string `json:"searches,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// runtimeConf builds the plugin invocation for pod: CNI_ARGS and the
// capability args. Bad input is ErrInvalidArgument and nothing has run yet.
func (m *Manager) runtimeConf(pod Pod) (*libcni.RuntimeConf, error) {
	caps := map[string]interface{}{}
	pms, err := portMappings(pod.PortMappings)
	if err != nil {
		return nil, fmt.Errorf("cni: pod %q: %w", pod.ID, err)
	}
	if len(pms) > 0 {
		caps["portMappings"] = pms
	}
	bw, err := bandwidth(pod.Annotations)
	if err != nil {
		return nil, fmt.Errorf("cni: pod %q: %w", pod.ID, err)
	}
	if bw != nil {
		caps["bandwidth"] = bw
	}
	m.mu.Lock()
	cidrs := m.podCIDRs
	m.mu.Unlock()
	if len(cidrs) > 0 {
		// One range set per CIDR: host-local then gives one address per
		// family in a dual-stack cluster.
		ranges := make([][]ipRange, 0, len(cidrs))
		for _, c := range cidrs {
			ranges = append(ranges, []ipRange{{Subnet: c}})
		}
		caps["ipRanges"] = ranges
	}
	if len(pod.Annotations) > 0 {
		// The capability containerd defined so that plugins (Multus, Cilium)
		// can read pod annotations; only plugins declaring it get them.
		caps["io.kubernetes.cri.pod-annotations"] = pod.Annotations
	}
	if pod.DNS != nil {
		caps["dns"] = dnsEntry{Servers: pod.DNS.Servers, Searches: pod.DNS.Searches, Options: pod.DNS.Options}
	}
	return &libcni.RuntimeConf{
		ContainerID:    pod.ID,
		NetNS:          pod.NetNS,
		IfName:         podIfName,
		Args:           cniArgs(pod),
		CapabilityArgs: caps,
	}, nil
}

// cniArgs are the CNI_ARGS kubelet has always passed; IgnoreUnknown lets
// plugins that do not know them (most) accept them.
func cniArgs(pod Pod) [][2]string {
	return [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", pod.Namespace},
		{"K8S_POD_NAME", pod.Name},
		{"K8S_POD_INFRA_CONTAINER_ID", pod.ID},
		{"K8S_POD_UID", pod.UID},
	}
}

// portMappings validates the pod's ports and keeps those with a host port:
// a container port without one needs no plugin work (as kubelet does).
func portMappings(in []PortMapping) ([]portMapEntry, error) {
	var out []portMapEntry
	for _, p := range in {
		proto := strings.ToLower(p.Protocol)
		switch proto {
		case "":
			proto = "tcp"
		case "tcp", "udp", "sctp":
		default:
			return nil, fmt.Errorf("port mapping %d: protocol %q: %w", p.ContainerPort, p.Protocol, errdefs.ErrInvalidArgument)
		}
		if p.ContainerPort <= 0 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping: container port %d out of range 1-65535: %w", p.ContainerPort, errdefs.ErrInvalidArgument)
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			return nil, fmt.Errorf("port mapping %d: host port %d out of range 1-65535: %w", p.ContainerPort, p.HostPort, errdefs.ErrInvalidArgument)
		}
		if p.HostPort == 0 {
			continue
		}
		hostIP := p.HostIP
		if hostIP != "" {
			ip := net.ParseIP(hostIP)
			if ip == nil {
				return nil, fmt.Errorf("port mapping %d: host IP %q: %w", p.HostPort, hostIP, errdefs.ErrInvalidArgument)
			}
			// Older portmap plugins (Debian's 1.1.1) would match
			// "-d 0.0.0.0" literally; unspecified means every address.
			if ip.IsUnspecified() {
				hostIP = ""
			}
		}
		out = append(out, portMapEntry{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: hostIP})
	}
	return out, nil
}

// Bandwidth limits kubelet accepts; outside them a value is almost surely a
// unit mistake (e.g. "10" meaning 10 Mbit/s).
var (
	minBandwidth = big.NewRat(1000, 1)                  // 1k
	maxBandwidth = big.NewRat(1_000_000_000_000_000, 1) // 1P
)

// bandwidth reads the pod's bandwidth annotations (nil when neither is set).
// Burst is set to the maximum, as kubelet does: the annotations only cap the
// rate, and the plugin rejects a rate without a burst.
func bandwidth(annotations map[string]string) (*bandwidthEntry, error) {
	var bw bandwidthEntry
	for _, a := range []struct {
		key         string
		rate, burst *uint64
	}{
		{IngressBandwidthAnnotation, &bw.IngressRate, &bw.IngressBurst},
		{EgressBandwidthAnnotation, &bw.EgressRate, &bw.EgressBurst},
	} {
		v, ok := annotations[a.key]
		if !ok {
			continue
		}
		q, err := parseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("annotation %s=%q: %v: %w", a.key, v, err, errdefs.ErrInvalidArgument)
		}
		if q.Cmp(minBandwidth) < 0 || q.Cmp(maxBandwidth) > 0 {
			return nil, fmt.Errorf("annotation %s=%q: must be between 1k and 1P bits/s: %w", a.key, v, errdefs.ErrInvalidArgument)
		}
		*a.rate = ceilUint64(q)
		*a.burst = math.MaxUint32
	}
	if bw == (bandwidthEntry{}) {
		return nil, nil
	}
	return &bw, nil
}

// quantitySuffixes are the Kubernetes quantity suffixes (binary and decimal SI).
var quantitySuffixes = map[string]*big.Rat{
	"Ki": new(big.Rat).SetInt64(1 << 10), "Mi": new(big.Rat).SetInt64(1 << 20),
	"Gi": new(big.Rat).SetInt64(1 << 30), "Ti": new(big.Rat).SetInt64(1 << 40),
	"Pi": new(big.Rat).SetInt64(1 << 50), "Ei": new(big.Rat).SetInt64(1 << 60),
	"n": big.NewRat(1, 1_000_000_000), "u": big.NewRat(1, 1_000_000), "m": big.NewRat(1, 1000),
	"": big.NewRat(1, 1), "k": big.NewRat(1000, 1), "M": big.NewRat(1_000_000, 1),
	"G": big.NewRat(1_000_000_000, 1), "T": big.NewRat(1_000_000_000_000, 1),
	"P": big.NewRat(1_000_000_000_000_000, 1), "E": big.NewRat(1_000_000_000_000_000_000, 1),
}

// parseQuantity parses a Kubernetes resource quantity ("10M", "1.5Gi",
// "100e3") exactly. A small parser instead of k8s.io/apimachinery, which
// would pull a large dependency tree into the daemon for two annotations.
func parseQuantity(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	// The number is [+-]digits[.digits]; the rest is the suffix.
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
		digits++
	}
	if digits == 0 {
		return nil, fmt.Errorf("not a quantity")
	}
	num, ok := new(big.Rat).SetString(s[:i])
	if !ok {
		return nil, fmt.Errorf("not a quantity")
	}
	suffix := s[i:]
	if f, ok := quantitySuffixes[suffix]; ok {
		return num.Mul(num, f), nil
	}
	// Decimal exponent: e3, E-2.
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		var exp int
		if _, err := fmt.Sscanf(suffix[1:], "%d", &exp); err == nil && exp >= -18 && exp <= 18 &&
			fmt.Sprint(exp) == strings.TrimPrefix(suffix[1:], "+") {
			p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil))
			if exp < 0 {
				p.Inv(p)
			}
			return num.Mul(num, p), nil
		}
	}
	return nil, fmt.Errorf("unknown suffix %q", suffix)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ceilUint64 rounds a non-negative rational up, as Quantity.Value() does.
func ceilUint64(r *big.Rat) uint64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Uint64()
}
