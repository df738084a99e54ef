package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// portMapping is one -p: HostIP may be empty (all addresses).
type portMapping struct {
	HostIP        string `json:"hostIP,omitempty"`
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"` // tcp, udp, sctp
}

func (p portMapping) String() string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Protocol)
}

// parsePublish reads docker's -p forms: CTR, HOST:CTR, IP:HOST:CTR, IP::CTR, each with an
// optional /tcp, /udp or /sctp. A missing host port means a free one, chosen here.
func parsePublish(s string) (portMapping, error) {
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return portMapping{}, fmt.Errorf("invalid proto: %s", proto)
	}
	var ip, host, ctr string
	switch parts := strings.Split(spec, ":"); len(parts) {
	case 1:
		ctr = parts[0]
	case 2:
		host, ctr = parts[0], parts[1]
	case 3:
		ip, host, ctr = parts[0], parts[1], parts[2]
	default:
		if i := strings.LastIndex(spec, "]:"); strings.HasPrefix(spec, "[") && i > 0 {
			ip = spec[1:i]
			host, ctr, _ = strings.Cut(spec[i+2:], ":")
			break
		}
		return portMapping{}, fmt.Errorf("invalid port specification: %q", s)
	}
	if ip != "" && net.ParseIP(ip) == nil {
		return portMapping{}, fmt.Errorf("invalid IP address in %q: %s", s, ip)
	}
	m := portMapping{HostIP: ip, Protocol: proto}
	cp, err := parsePort(ctr)
	if err != nil {
		return portMapping{}, fmt.Errorf("invalid containerPort: %s", ctr)
	}
	m.ContainerPort = cp
	if host != "" {
		if m.HostPort, err = parsePort(host); err != nil {
			return portMapping{}, fmt.Errorf("invalid hostPort: %s", host)
		}
	}
	return m, nil
}

func parsePort(s string) (int32, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return int32(n), nil
}

func (p portMapping) toCRI() *runtimeapi.PortMapping {
	proto := runtimeapi.Protocol_TCP
	switch p.Protocol {
	case "udp":
		proto = runtimeapi.Protocol_UDP
	case "sctp":
		proto = runtimeapi.Protocol_SCTP
	}
	return &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP}
}

// errPortAllocated is docker's wording for a host port another container or process has.
var errPortAllocated = errors.New("port is already allocated")

// claimPorts fills in free host ports and refuses one in use: by another container made
// here (CNI's portmap only writes DNAT rules, so the kernel would not notice two), or by
// a socket on this host.
func claimPorts(ports []portMapping, taken []portMapping) error {
	for i := range ports {
		p := &ports[i]
		if p.HostPort == 0 {
			port, err := freePort(p.HostIP, p.Protocol)
			if err != nil {
				return err
			}
			p.HostPort = port
			continue
		}
		for _, t := range append(taken, ports[:i]...) {
			if t.HostPort == p.HostPort && t.Protocol == p.Protocol && (t.HostIP == "" || p.HostIP == "" || t.HostIP == p.HostIP) {
				return bindError(*p)
			}
		}
		if err := probeBind(*p); err != nil {
			return err
		}
	}
	return nil
}

func bindError(p portMapping) error {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Errorf("bind for %s failed: %w", net.JoinHostPort(ip, strconv.Itoa(int(p.HostPort))), errPortAllocated)
}

// probeBind binds the host port for an instant: a process listening there would make the
// published port unreachable (its socket wins over DNAT for local clients).
func probeBind(p portMapping) error {
	addr := net.JoinHostPort(p.HostIP, strconv.Itoa(int(p.HostPort)))
	var err error
	switch p.Protocol {
	case "udp":
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	case "tcp":
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	default:
		return nil // no portable probe for sctp
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return bindError(p)
	}
	if err != nil {
		return fmt.Errorf("publish %s: %w", p, err)
	}
	return nil
}

func freePort(ip, proto string) (int32, error) {
	addr := net.JoinHostPort(ip, "0")
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return int32(c.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port), nil
}
