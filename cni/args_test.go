package cni

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/crid-dev/crid/errdefs"
)

func TestParseQuantity(t *testing.T) {
	cases := []struct {
		in   string
		want uint64 // rounded up, as Quantity.Value()
		bad  bool
	}{
		{in: "1000", want: 1000},
		{in: "10M", want: 10_000_000},
		{in: "1.5M", want: 1_500_000},
		{in: "1Mi", want: 1 << 20},
		{in: "2Gi", want: 2 << 30},
		{in: "100k", want: 100_000},
		{in: "1e6", want: 1_000_000},
		{in: "1E3", want: 1000},
		{in: "1500m", want: 2},
		{in: "+5k", want: 5000},
		{in: " 1G ", want: 1_000_000_000},
		{in: "", bad: true},
		{in: "M", bad: true},
		{in: "10 M", bad: true},
		{in: "10mb", bad: true},
		{in: "1.2.3", bad: true},
		{in: "1e", bad: true},
		{in: "1e3x", bad: true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			q, err := parseQuantity(c.in)
			if c.bad {
				if err == nil {
					t.Errorf("parseQuantity(%q) = %v, want error", c.in, q)
				}
				return
			}
			if err != nil {
				t.Errorf("parseQuantity(%q): %v", c.in, err)
				return
			}
			if got := ceilUint64(q); got != c.want {
				t.Errorf("parseQuantity(%q) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}

func TestBandwidth(t *testing.T) {
	bw, err := bandwidth(map[string]string{"other": "x"})
	if err != nil || bw != nil {
		t.Fatalf("no annotations: %v, %v", bw, err)
	}
	bw, err = bandwidth(map[string]string{IngressBandwidthAnnotation: "10M", EgressBandwidthAnnotation: "1Mi"})
	if err != nil {
		t.Fatal(err)
	}
	want := bandwidthEntry{IngressRate: 10_000_000, IngressBurst: math.MaxUint32, EgressRate: 1 << 20, EgressBurst: math.MaxUint32}
	if *bw != want {
		t.Errorf("got %+v, want %+v", *bw, want)
	}
	for _, v := range []string{"10", "-1M", "2P", "fast"} {
		if _, err := bandwidth(map[string]string{EgressBandwidthAnnotation: v}); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("egress %q: got %v, want invalid argument", v, err)
		}
	}
}

func TestPortMappings(t *testing.T) {
	got, err := portMappings([]PortMapping{
		{HostPort: 8080, ContainerPort: 80},
		{HostPort: 53, ContainerPort: 53, Protocol: "UDP", HostIP: "127.0.0.1"},
		{HostPort: 0, ContainerPort: 9090, Protocol: "tcp"}, // no host port: nothing to map
		{HostPort: 443, ContainerPort: 443, Protocol: "sctp", HostIP: "0.0.0.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []portMapEntry{
		{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		{HostPort: 53, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"},
		{HostPort: 443, ContainerPort: 443, Protocol: "sctp"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []PortMapping{
		{HostPort: 80, ContainerPort: 0},
		{HostPort: 80, ContainerPort: 70000},
		{HostPort: 70000, ContainerPort: 80},
		{HostPort: -1, ContainerPort: 80},
		{HostPort: 80, ContainerPort: 80, Protocol: "icmp"},
		{HostPort: 80, ContainerPort: 80, HostIP: "localhost"},
	} {
		if _, err := portMappings([]PortMapping{bad}); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: got %v, want invalid argument", bad, err)
		}
	}
}

func TestRuntimeConf(t *testing.T) {
	m := &Manager{}
	if err := m.SetPodCIDR("10.88.5.0/24, fd00:88::/64"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPodCIDR("10.88.5.0"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad CIDR: got %v", err)
	}
	pod := Pod{
		ID: "abc", Name: "web", Namespace: "default", UID: "u-1", NetNS: "/run/x",
		PortMappings: []PortMapping{{HostPort: 8080, ContainerPort: 80}},
		Annotations:  map[string]string{IngressBandwidthAnnotation: "1M"},
		DNS:          &DNS{Servers: []string{"10.96.0.10"}, Searches: []string{"svc.cluster.local"}},
	}
	rt, err := m.runtimeConf(pod)
	if err != nil {
		t.Fatal(err)
	}
	if rt.ContainerID != "abc" || rt.NetNS != "/run/x" || rt.IfName != "eth0" {
		t.Errorf("rt = %+v", rt)
	}
	args := map[string]string{}
	for _, a := range rt.Args {
		args[a[0]] = a[1]
	}
	if args["IgnoreUnknown"] != "1" || args["K8S_POD_NAME"] != "web" || args["K8S_POD_NAMESPACE"] != "default" ||
		args["K8S_POD_INFRA_CONTAINER_ID"] != "abc" || args["K8S_POD_UID"] != "u-1" {
		t.Errorf("args = %v", rt.Args)
	}
	b, err := json.Marshal(rt.CapabilityArgs)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"bandwidth":{"ingressRate":1000000,"ingressBurst":4294967295},` +
		`"dns":{"servers":["10.96.0.10"],"searches":["svc.cluster.local"]},` +
		`"io.kubernetes.cri.pod-annotations":{"kubernetes.io/ingress-bandwidth":"1M"},` +
		`"ipRanges":[[{"subnet":"10.88.5.0/24"}],[{"subnet":"fd00:88::/64"}]],` +
		`"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}`
	if string(b) != want {
		t.Errorf("capability args\n got %s\nwant %s", b, want)
	}
	if _, err := m.runtimeConf(Pod{ID: "x", PortMappings: []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "x"}}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad protocol: got %v", err)
	}
}

func TestPodIPs(t *testing.T) {
	zero, one := 0, 1
	res := &types100.Result{
		CNIVersion: "1.0.0",
		Interfaces: []*types100.Interface{
			{Name: "veth1", Sandbox: ""},            // host side
			{Name: "eth0", Sandbox: "/run/netns/x"}, // pod side
		},
	}
	for _, c := range []struct {
		cidr  string
		iface *int
	}{
		{"fd00::5/64", &one},
		{"10.88.0.9/16", &zero}, // on the host side: not the pod's
		{"10.88.0.5/16", &one},
		{"127.0.0.1/8", nil},
		{"10.89.0.5/16", nil},
	} {
		ipn, err := types.ParseCIDR(c.cidr)
		if err != nil {
			t.Fatal(err)
		}
		res.IPs = append(res.IPs, &types100.IPConfig{Address: *ipn, Interface: c.iface})
	}
	ips, err := podIPs(res)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.88.0.5", "10.89.0.5", "fd00::5"}
	if len(ips) != len(want) || ips[0] != want[0] || ips[1] != want[1] || ips[2] != want[2] {
		t.Errorf("podIPs = %v, want %v", ips, want)
	}
	if _, err := podIPs(&types100.Result{CNIVersion: "1.0.0"}); err == nil {
		t.Error("empty result: want error")
	}
}
