package spec

import (
	"maps"
	"strings"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestValidateSysctls(t *testing.T) {
	pod := &runtime.NamespaceOption{}
	hostNet := &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE}
	hostIPC := &runtime.NamespaceOption{Ipc: runtime.NamespaceMode_NODE}
	tests := []struct {
		name    string
		in      map[string]string
		ns      *runtime.NamespaceOption
		want    map[string]string
		wantErr string
	}{
		{name: "none", in: nil, ns: pod, want: nil},
		{
			name: "namespaced ones",
			in: map[string]string{
				"net.ipv4.ip_forward": "1", "net.core.somaxconn": "1024", "kernel.shmmax": "1", "kernel.msgmax": "2",
				"kernel.sem": "250 32000 32 128", "fs.mqueue.msg_max": "20", "kernel.shm_rmid_forced": "1",
			},
			ns: pod,
			want: map[string]string{
				"net.ipv4.ip_forward": "1", "net.core.somaxconn": "1024", "kernel.shmmax": "1", "kernel.msgmax": "2",
				"kernel.sem": "250 32000 32 128", "fs.mqueue.msg_max": "20", "kernel.shm_rmid_forced": "1",
			},
		},
		{name: "nil namespace options is pod", in: map[string]string{"net.ipv4.ip_forward": "1"}, ns: nil, want: map[string]string{"net.ipv4.ip_forward": "1"}},
		{name: "slash form", in: map[string]string{"net/ipv4/conf/eth0.100/rp_filter": "2"}, ns: pod, want: map[string]string{"net.ipv4.conf.eth0/100.rp_filter": "2"}},
		{name: "IPC sysctl with host network is fine", in: map[string]string{"kernel.shmmax": "1"}, ns: hostNet, want: map[string]string{"kernel.shmmax": "1"}},
		{name: "not namespaced kernel", in: map[string]string{"kernel.core_pattern": "|/evil"}, ns: pod, wantErr: `linux.sysctls["kernel.core_pattern"]`},
		{name: "not namespaced vm", in: map[string]string{"vm.overcommit_memory": "1"}, ns: pod, wantErr: `linux.sysctls["vm.overcommit_memory"]`},
		{name: "global net", in: map[string]string{"net.core.rmem_max": "1"}, ns: pod, wantErr: `linux.sysctls["net.core.rmem_max"]`},
		{name: "fs but not mqueue", in: map[string]string{"fs.file-max": "1"}, ns: pod, wantErr: `linux.sysctls["fs.file-max"]`},
		{name: "net with host network", in: map[string]string{"net.ipv4.ip_forward": "1"}, ns: hostNet, wantErr: `linux.sysctls["net.ipv4.ip_forward"]`},
		{name: "ipc with host ipc", in: map[string]string{"kernel.msgmax": "1"}, ns: hostIPC, wantErr: `linux.sysctls["kernel.msgmax"]`},
		{name: "mqueue with host ipc", in: map[string]string{"fs.mqueue.queues_max": "1"}, ns: hostIPC, wantErr: `linux.sysctls["fs.mqueue.queues_max"]`},
		{name: "traversal", in: map[string]string{"net.ipv4/../../kernel.x": "1"}, ns: pod, wantErr: "linux.sysctls"},
		{name: "empty segment", in: map[string]string{"net..ipv4": "1"}, ns: pod, wantErr: "linux.sysctls"},
		{name: "newline value (CVE-2022-0811 style smuggling)", in: map[string]string{"kernel.shmmax": "1\nkernel.core_pattern=|/x"}, ns: pod, wantErr: `linux.sysctls["kernel.shmmax"]`},
		{name: "UTS sysctl in the pod's UTS", in: map[string]string{"kernel.domainname": "example"}, ns: pod, want: map[string]string{"kernel.domainname": "example"}},
		{name: "UTS sysctl with host network", in: map[string]string{"kernel.hostname": "x"}, ns: hostNet, wantErr: `linux.sysctls["kernel.hostname"]`},
		{name: "uppercase interface name kept", in: map[string]string{"net.ipv4.conf.ETH0.forwarding": "1"}, ns: pod, want: map[string]string{"net.ipv4.conf.ETH0.forwarding": "1"}},
		{name: "IPC prefixes", in: map[string]string{"kernel.shm_next_id": "5", "kernel.msg_next_id": "6", "kernel.sem_next_id": "7"}, ns: pod,
			want: map[string]string{"kernel.shm_next_id": "5", "kernel.msg_next_id": "6", "kernel.sem_next_id": "7"}},
		{name: "kernel.semx is not IPC", in: map[string]string{"kernel.semx": "1"}, ns: pod, wantErr: `linux.sysctls["kernel.semx"]`},
		{name: "plus in name", in: map[string]string{"kernel.shmmax+kernel.core_pattern": "1"}, ns: pod, wantErr: "linux.sysctls"},
		// CVE-2022-0811: a second assignment smuggled in a value.
		{name: "second assignment after plus", in: map[string]string{"kernel.shm_rmid_forced": "1+kernel.core_pattern=|/x"}, ns: pod, wantErr: `linux.sysctls["kernel.shm_rmid_forced"]`},
		{name: "second assignment after space", in: map[string]string{"kernel.shmmax": "1 kernel.core_pattern=|/x"}, ns: pod, wantErr: `linux.sysctls["kernel.shmmax"]`},
		{name: "carriage return", in: map[string]string{"kernel.shmmax": "1\r"}, ns: pod, wantErr: `linux.sysctls["kernel.shmmax"]`},
		{name: "NUL", in: map[string]string{"kernel.shmmax": "1\x00"}, ns: pod, wantErr: `linux.sysctls["kernel.shmmax"]`},
		{name: "semicolon", in: map[string]string{"kernel.domainname": "a;b"}, ns: pod, wantErr: `linux.sysctls["kernel.domainname"]`},
		{name: "two values for a one-value key", in: map[string]string{"kernel.shmmni": "4000 junk"}, ns: pod, wantErr: `linux.sysctls["kernel.shmmni"]`},
		{name: "too few values", in: map[string]string{"kernel.sem": "250 32000 32"}, ns: pod, wantErr: `linux.sysctls["kernel.sem"]`},
		{name: "too many values", in: map[string]string{"net.ipv4.ip_local_port_range": "1000 2000 3000"}, ns: pod, wantErr: `linux.sysctls["net.ipv4.ip_local_port_range"]`},
		{name: "empty value", in: map[string]string{"kernel.shmmax": ""}, ns: pod, wantErr: `linux.sysctls["kernel.shmmax"]`},
		{name: "blank value", in: map[string]string{"kernel.shmmax": "  "}, ns: pod, wantErr: `linux.sysctls["kernel.shmmax"]`},
		{name: "too long", in: map[string]string{"net.ipv4.ip_local_reserved_ports": strings.Repeat("1,", 2048)}, ns: pod, wantErr: `linux.sysctls["net.ipv4.ip_local_reserved_ports"]`},
		{name: "tabs as /proc prints them", in: map[string]string{"kernel.sem": "250\t32000\t32\t128"}, ns: pod, want: map[string]string{"kernel.sem": "250 32000 32 128"}},
		{name: "lists, ranges, negative", in: map[string]string{"net.ipv4.ip_local_reserved_ports": "8080,9000-9010", "kernel.shm_next_id": "-1"}, ns: pod,
			want: map[string]string{"net.ipv4.ip_local_reserved_ports": "8080,9000-9010", "kernel.shm_next_id": "-1"}},
		{name: "IPv6 secret", in: map[string]string{"net.ipv6.conf.all.stable_secret": "2001:db8::1"}, ns: pod, want: map[string]string{"net.ipv6.conf.all.stable_secret": "2001:db8::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateSysctls(tt.in, tt.ns)
			if tt.wantErr != "" {
				wantInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestPodSpecSysctls(t *testing.T) {
	in := podInput()
	in.Config.Linux.Sysctls = map[string]string{"net.ipv4.ping_group_range": "0 2147483647"}
	s, err := PodSpec(in)
	if err != nil || s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" {
		t.Fatalf("got %v, %v", s, err)
	}
	in.Config.Linux.Sysctls = map[string]string{"kernel.panic": "1"}
	_, err = PodSpec(in)
	wantInvalid(t, err, `linux.sysctls["kernel.panic"]`)
}
