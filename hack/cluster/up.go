package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// up brings the cluster up; on any failure it takes down what it made.
func up(ctx context.Context, c *config) (err error) {
	if os.Getuid() != 0 {
		return errors.New("needs root")
	}
	if c.k8sBin == "" {
		return errors.New("--k8s-bin is required (hack/cluster/build.sh prints it)")
	}
	if c.nodes < 1 || c.nodes > 200 {
		return fmt.Errorf("--nodes %d: want 1..200", c.nodes)
	}
	if c.runtimeEndpoint != "" && c.nodes != 1 {
		return errors.New("--runtime-endpoint runs one node only")
	}
	if s, err := loadState(c.statePath()); err != nil || s != nil {
		return fmt.Errorf("a cluster is up in %s (make cluster-down): %v", c.dir, err)
	}
	// The logs of the last cluster, kept by down, make way for this one's.
	if err := os.RemoveAll(c.logs()); err != nil {
		return err
	}
	for _, d := range []string{c.dir, c.runDir, c.logs(), c.pki()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	s := &state{Nodes: c.nodes, RuntimeEndpoint: c.runtimeEndpoint, K8sBin: c.k8sBin}
	if err := s.save(c.statePath()); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(os.Stderr, "cluster up failed: %v\ncluster: taking down what was made (logs stay in %s)\n", err, c.logs())
			if derr := down(c); derr != nil {
				fmt.Fprintf(os.Stderr, "cluster down: %v\n", derr)
			}
		}
	}()
	t0 := time.Now()
	step := func(what string) { fmt.Printf("cluster: %-44s (%s)\n", what, time.Since(t0).Round(time.Second)) }

	// kubelet mounts pods' volumes in its own mount namespace (see startKubelet); they reach
	// crid's through this shared mount.
	s.SharedMount = c.dir
	if err := s.save(c.statePath()); err != nil {
		return err
	}
	if err := run("mount", "--bind", c.dir, c.dir); err != nil {
		return err
	}
	if err := run("mount", "--make-rshared", c.dir); err != nil {
		return err
	}

	if err := writePKI(c); err != nil {
		return err
	}
	step("certificates and kubeconfigs written")
	if err := setupBridge(c, s); err != nil {
		return err
	}
	for k := 2; k <= c.nodes; k++ {
		if err := setupNodeNetns(c, s, k); err != nil {
			return err
		}
	}
	step(fmt.Sprintf("node network up (%d nodes)", c.nodes))

	registry, err := startRegistry(ctx, c, s)
	if err != nil {
		return err
	}
	step("registry serving the images on " + registry)
	if err := startControlPlane(ctx, c, s); err != nil {
		return err
	}
	step("control plane ready")
	for k := 1; k <= c.nodes; k++ {
		if err := startNode(ctx, c, s, k, registry); err != nil {
			return fmt.Errorf("%s: %w", nodeName(k), err)
		}
	}
	if err := waitFor(ctx, s, 5*time.Minute, "nodes Ready", func() error {
		return kubectlQuiet(c, "wait", "--for=condition=Ready", "node", "--all", "--timeout=5s")
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, s, 2*time.Minute, "default service account", func() error {
		return kubectlQuiet(c, "get", "serviceaccount", "default")
	}); err != nil {
		return err
	}
	step(fmt.Sprintf("%d nodes Ready", c.nodes))
	if c.dns {
		if err := startDNS(ctx, c, s); err != nil {
			return err
		}
		step("cluster DNS (CoreDNS) ready at " + dnsServiceIP)
	}
	fmt.Printf("\nexport KUBECONFIG=%s\n%s/kubectl get nodes -o wide\n", c.kubeconfig(), c.k8sBin)
	return nil
}

func writePKI(c *config) error {
	pki := c.pki()
	ca, err := newCA(pki)
	if err != nil {
		return err
	}
	specs := []certSpec{
		{name: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
			ips: []net.IP{net.ParseIP(hostIP), net.ParseIP(kubernetesSvc), net.ParseIP("127.0.0.1")}},
		// The apiserver's client certificate towards kubelets (logs, exec, port-forward).
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
		{name: "admin", cn: "crid-cluster-admin", orgs: []string{"system:masters"}},
		{name: "kube-controller-manager", cn: "system:kube-controller-manager"},
		{name: "kube-scheduler", cn: "system:kube-scheduler"},
		{name: "kube-proxy", cn: "system:kube-proxy"},
	}
	for k := 1; k <= c.nodes; k++ {
		specs = append(specs, certSpec{name: "kubelet-" + nodeName(k), cn: "system:node:" + nodeName(k), orgs: []string{"system:nodes"}})
	}
	for _, s := range specs {
		if err := ca.issue(pki, s); err != nil {
			return err
		}
	}
	if err := writeServiceAccountKey(pki); err != nil {
		return err
	}
	kc := filepath.Join(c.dir, "kubeconfig")
	for _, s := range specs {
		if s.server || s.name == "apiserver-kubelet-client" {
			continue
		}
		if err := writeKubeconfig(c, filepath.Join(kc, s.name+".conf"), s.name); err != nil {
			return err
		}
	}
	return nil
}

func startRegistry(ctx context.Context, c *config, s *state) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	addrFile := filepath.Join(c.runDir, "registry.addr")
	_ = os.Remove(addrFile)
	p, err := s.start(c, "registry", 0, []string{self, "registry", "--k8s-bin", c.k8sBin, "--crid-bin", c.cridBin, "--listen", hostIP + ":0", "--addr-file", addrFile}, nil)
	if err != nil {
		return "", err
	}
	var addr string
	err = waitFor(ctx, s, 3*time.Minute, "registry", func() error {
		if !p.alive() {
			return errExited
		}
		b, err := os.ReadFile(addrFile)
		addr = string(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, tail(p.Log, 10))
	}
	s.Registry = addr
	return addr, s.save(c.statePath())
}

// freePort asks the kernel for a free TCP port on 127.0.0.1 (a race with another taker is
// possible and ends in a clear bind error).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startControlPlane(ctx context.Context, c *config, s *state) error {
	bin := func(n string) string { return filepath.Join(c.k8sBin, n) }
	pki := func(n string) string { return filepath.Join(c.pki(), n) }
	kc := func(n string) string { return filepath.Join(c.dir, "kubeconfig", n+".conf") }
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	etcd, err := s.start(c, "etcd", 0, []string{bin("etcd"),
		"--name", "crid-cluster", "--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "crid-cluster=" + peer,
		// A test cluster: no fsync keeps etcd responsive on a loaded 2-core machine.
		"--unsafe-no-fsync", "--log-level", "warn",
	}, nil)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, s, etcd, client+"/health"); err != nil {
		return err
	}
	api, err := s.start(c, "kube-apiserver", 0, []string{bin("kube-apiserver"),
		"--etcd-servers", client,
		"--bind-address", hostIP, "--advertise-address", hostIP, "--secure-port", strconv.Itoa(apiserverPort),
		"--service-cluster-ip-range", serviceCIDR,
		"--client-ca-file", pki("ca.crt"),
		"--tls-cert-file", pki("apiserver.crt"), "--tls-private-key-file", pki("apiserver.key"),
		"--kubelet-client-certificate", pki("apiserver-kubelet-client.crt"), "--kubelet-client-key", pki("apiserver-kubelet-client.key"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pki("sa.pub"), "--service-account-signing-key-file", pki("sa.key"),
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true",
		"--kubelet-preferred-address-types", "InternalIP",
	}, nil)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, s, 3*time.Minute, "kube-apiserver /readyz", func() error {
		if !api.alive() {
			return errExited
		}
		return kubectlQuiet(c, "get", "--raw", "/readyz")
	}); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(api.Log, 20))
	}
	if _, err := s.start(c, "kube-controller-manager", 0, []string{bin("kube-controller-manager"),
		"--kubeconfig", kc("kube-controller-manager"),
		"--authentication-kubeconfig", kc("kube-controller-manager"), "--authorization-kubeconfig", kc("kube-controller-manager"),
		"--bind-address", "127.0.0.1",
		"--cluster-signing-cert-file", pki("ca.crt"), "--cluster-signing-key-file", pki("ca.key"),
		"--root-ca-file", pki("ca.crt"), "--service-account-private-key-file", pki("sa.key"),
		"--use-service-account-credentials=true", "--leader-elect=false",
		// Pod ranges are static per node (the CNI config up writes), not allocated.
		"--allocate-node-cidrs=false", "--configure-cloud-routes=false",
		"--service-cluster-ip-range", serviceCIDR, "--cluster-cidr", clusterCIDR,
	}, nil); err != nil {
		return err
	}
	_, err = s.start(c, "kube-scheduler", 0, []string{bin("kube-scheduler"),
		"--kubeconfig", kc("kube-scheduler"),
		"--authentication-kubeconfig", kc("kube-scheduler"), "--authorization-kubeconfig", kc("kube-scheduler"),
		"--bind-address", "127.0.0.1", "--leader-elect=false",
	}, nil)
	return err
}

// kubelet's kernel settings (pkg/kubelet/cm setupKernelTunables): it writes them when they
// differ. They are global, and this machine is shared, so kubelet runs in a mount namespace
// where these files read as the values it wants (see startKubelet) and the host's stay.
var kubeletSysctls = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

func startNode(ctx context.Context, c *config, s *state, k int, registry string) error {
	name := nodeName(k)
	dir := filepath.Join(c.dir, "nodes", name)
	run := filepath.Join(c.runDir, name)
	for _, d := range []string{dir, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := writeCNIConfig(filepath.Join(dir, "cni"), k); err != nil {
		return err
	}
	certs := filepath.Join(dir, "certs.d")
	for _, reg := range []string{"registry.k8s.io", "docker.io"} {
		server := "https://" + reg
		if reg == "docker.io" {
			server = "https://registry-1.docker.io"
		}
		text := fmt.Sprintf("server = %q\n\n[host.\"http://%s/v2/%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n", server, registry, reg)
		if err := os.MkdirAll(filepath.Join(certs, reg), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(certs, reg, "hosts.toml"), []byte(text), 0o644); err != nil {
			return err
		}
	}

	endpoint := c.runtimeEndpoint
	if endpoint == "" {
		sock := filepath.Join(run, "crid.sock")
		endpoint = "unix://" + sock
		crid, err := s.start(c, "crid-"+name, k, inNode(k, []string{filepath.Join(c.cridBin, "crid"),
			"--root", filepath.Join(dir, "crid"), "--state", filepath.Join(run, "crid"), "--listen", sock,
			"--registry-config-dir", certs, "--cni-conf-dir", filepath.Join(dir, "cni", "net.d"),
			"--cni-bin-dir", "/usr/lib/cni:/opt/cni/bin", "--metrics-listen=",
		}), nil)
		if err != nil {
			return err
		}
		crid.Socket = sock
		if err := s.save(c.statePath()); err != nil {
			return err
		}
		if err := waitFor(ctx, s, time.Minute, "crid socket", func() error {
			if !crid.alive() {
				return errExited
			}
			_, err := os.Stat(sock)
			return err
		}); err != nil {
			return fmt.Errorf("%w\n%s", err, tail(crid.Log, 20))
		}
	}

	cgroupRoot := "/crid-cluster-" + name
	s.CgroupRoots = append(s.CgroupRoots, cgroupRoot)
	if k == 1 {
		s.KubeletHost = true
		s.KubeProxyHost = true
	}
	if err := s.save(c.statePath()); err != nil {
		return err
	}
	if err := makeCgroupRoot(cgroupRoot); err != nil {
		return err
	}
	kubeletConfig := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[2]s}
authorization: {mode: Webhook}
containerRuntimeEndpoint: %[3]s
cgroupDriver: cgroupfs
cgroupRoot: %[4]s
# This machine has the cgroup v1 hybrid hierarchy, which kubelet 1.35+ refuses unless told.
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [%[5]s]
podLogsDir: %[6]s
rotateCertificates: false
serializeImagePulls: false
# The disk is shared with other work: evict only when it is really full.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
`, nodeIP(k), filepath.Join(c.pki(), "ca.crt"), endpoint, cgroupRoot, dnsServiceIP, filepath.Join(dir, "pod-logs"))
	kubeletConfigPath := filepath.Join(dir, "kubelet-config.yaml")
	if err := os.WriteFile(kubeletConfigPath, []byte(kubeletConfig), 0o644); err != nil {
		return err
	}
	if err := writeKubeconfig(c, filepath.Join(dir, "kubelet.conf"), "kubelet-"+name); err != nil {
		return err
	}
	sysctlDir := filepath.Join(dir, "sysctl")
	if err := os.MkdirAll(sysctlDir, 0o755); err != nil {
		return err
	}
	// In kubelet's own mount namespace (--propagation unchanged: c.dir stays shared with
	// the host's, so pod volumes reach crid), each kernel setting kubelet would write reads
	// as the value it wants.
	script := "set -e\n"
	for key, val := range kubeletSysctls {
		f := filepath.Join(sysctlDir, strings.ReplaceAll(key, "/", "."))
		if err := os.WriteFile(f, []byte(val+"\n"), 0o444); err != nil {
			return err
		}
		script += fmt.Sprintf("mount --bind %s /proc/sys/%s\n", f, key)
	}
	script += `exec "$@"` + "\n"
	kubelet, err := s.start(c, "kubelet-"+name, k, inNode(k, []string{"unshare", "--mount", "--propagation", "unchanged", "--",
		"sh", "-c", script, "kubelet",
		filepath.Join(c.k8sBin, "kubelet"), "--config", kubeletConfigPath,
		"--kubeconfig", filepath.Join(dir, "kubelet.conf"), "--root-dir", filepath.Join(dir, "kubelet"),
		"--hostname-override", name, "--node-ip", nodeIP(k), "--v", "2",
	}), nil)
	if err != nil {
		return err
	}

	proxyConfig := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %[1]s}
hostnameOverride: %[2]s
bindAddress: %[3]s
healthzBindAddress: %[3]s:10256
metricsBindAddress: 127.0.0.1:10249
mode: iptables
clusterCIDR: %[4]s
# Leave the host's conntrack settings alone (they are global).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables:
  # Without br_netfilter, replies of a Service backend on the same bridge as its client
  # would skip the reverse NAT: masquerading all Service traffic makes them come back.
  masqueradeAll: true
  # No route_localnet (a global setting): NodePorts are not served on 127.0.0.1.
  localhostNodePorts: false
`, filepath.Join(c.dir, "kubeconfig", "kube-proxy.conf"), name, nodeIP(k), clusterCIDR)
	proxyConfigPath := filepath.Join(dir, "kube-proxy-config.yaml")
	if err := os.WriteFile(proxyConfigPath, []byte(proxyConfig), 0o644); err != nil {
		return err
	}
	if _, err := s.start(c, "kube-proxy-"+name, k, inNode(k, []string{filepath.Join(c.k8sBin, "kube-proxy"), "--config", proxyConfigPath}), nil); err != nil {
		return err
	}
	return waitFor(ctx, s, 3*time.Minute, name+" registered", func() error {
		if !kubelet.alive() {
			return fmt.Errorf("kubelet exited:\n%s", tail(kubelet.Log, 20))
		}
		return kubectlQuiet(c, "get", "node", name)
	})
}

// makeCgroupRoot makes a node's cgroup root in every mounted hierarchy: kubelet refuses to
// start when its cgroupRoot does not exist. A v1 cpuset cgroup starts with no CPU and no
// memory node: it gets its parent's.
func makeCgroupRoot(root string) error {
	hier, err := filepath.Glob("/sys/fs/cgroup/*")
	if err != nil {
		return err
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		hier = []string{"/sys/fs/cgroup"} // pure v2
	}
	for _, h := range hier {
		if fi, err := os.Stat(h); err != nil || !fi.IsDir() {
			continue
		}
		d := filepath.Join(h, root)
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil { //nolint:gosec // cgroupfs paths this command made
					return fmt.Errorf("%s: %w", filepath.Join(d, f), err)
				}
			}
		}
	}
	return nil
}

var errExited = errors.New("process exited")

// waitFor polls f every half second until it succeeds, timeout passes or ctx ends; a
// permanent failure (errExited, or an error wrapping it) stops it at once.
func waitFor(ctx context.Context, _ *state, timeout time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, errExited) || time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func waitHTTP(ctx context.Context, s *state, p *proc, url string) error {
	err := waitFor(ctx, s, 2*time.Minute, p.Name, func() error {
		if !p.alive() {
			return errExited
		}
		return exec.Command("curl", "-fsS", "-m", "2", "-o", "/dev/null", url).Run()
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(p.Log, 20))
	}
	return nil
}

// kubectl runs kubectl with the admin kubeconfig and returns its output.
func kubectl(c *config, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.k8sBin, "kubectl"), append([]string{"--kubeconfig", c.kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func kubectlQuiet(c *config, args ...string) error {
	_, err := kubectl(c, args...)
	return err
}
