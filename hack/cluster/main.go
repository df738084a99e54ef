// Command cluster brings up a local Kubernetes cluster whose nodes run on crid, and takes it
// down again leaving nothing behind (README "Kubernetes on crid"):
//
//	cluster up   [--nodes N] [--runtime-endpoint unix:///other.sock]   (make cluster)
//	cluster down                                                    (make cluster-down)
//	cluster check                                                   (make test-cluster)
//	cluster summary --focus REGEX [--skip-list FILE] JUNIT...       (make conformance)
//
// The control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) runs on
// the host; node 1 (crid, kubelet, kube-proxy) runs in the host's network namespace and each
// further node in a network namespace of its own on the host bridge crc0. The Kubernetes
// binaries come from hack/cluster/build.sh, the images from the local registry this command
// also serves (`cluster registry`, started by up).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// The cluster's fixed addresses. The node network and pod ranges are private ranges that
// exist only on the bridge and in the namespaces this command makes.
const (
	bridgeName    = "crc0"       // host bridge of the node network
	hostIP        = "10.250.0.1" // the host on crc0: apiserver, registry, node 1
	nodeNetPrefix = "10.250.0."  // node k (1-based) is 10.250.0.k
	podBridge     = "crcpods0"   // each node's CNI bridge (in its own netns; node 1's on the host)
	clusterCIDR   = "10.244.0.0/16"
	serviceCIDR   = "10.96.0.0/16"
	kubernetesSvc = "10.96.0.1"
	dnsServiceIP  = "10.96.0.10"
	apiserverPort = 6443
)

// config is what every subcommand knows: where things live.
type config struct {
	dir     string // persistent: certificates, kubeconfigs, etcd, crid roots, kubelet dirs, logs
	runDir  string // volatile: crid state dirs, sockets
	k8sBin  string // kube-apiserver, kubelet, ..., etcd (build.sh's output)
	cridBin string // crid, crid-monitor, e2etools
	nodes   int
	dns     bool
	// runtimeEndpoint, when set, is another CRI runtime already running that node 1's
	// kubelet uses instead of a crid started here (one node only).
	runtimeEndpoint string
}

func (c *config) kubeconfig() string { return filepath.Join(c.dir, "kubeconfig", "admin.conf") }
func (c *config) pki() string        { return filepath.Join(c.dir, "pki") }
func (c *config) logs() string       { return filepath.Join(c.dir, "logs") }
func (c *config) statePath() string  { return filepath.Join(c.dir, "state.json") }

func nodeName(k int) string { return fmt.Sprintf("node%d", k) }
func nodeIP(k int) string   { return fmt.Sprintf("%s%d", nodeNetPrefix, k) }
func podCIDR(k int) string  { return fmt.Sprintf("10.244.%d.0/24", k-1) }
func netnsName(k int) string {
	return fmt.Sprintf("crid-cluster-%s", nodeName(k))
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	c := &config{}
	fs.StringVar(&c.dir, "dir", "/var/lib/crid-cluster", "the cluster's files (certificates, kubeconfigs, node dirs, logs)")
	fs.StringVar(&c.runDir, "run-dir", "/run/crid-cluster", "the cluster's volatile files (crid state, sockets)")
	fs.StringVar(&c.k8sBin, "k8s-bin", "", "directory of the Kubernetes and etcd binaries (hack/cluster/build.sh prints it)")
	fs.StringVar(&c.cridBin, "crid-bin", "bin", "directory of crid, crid-monitor and e2etools (the e2e images' nc, curl, wget, nnp)")
	fs.IntVar(&c.nodes, "nodes", 1, "number of nodes")
	fs.BoolVar(&c.dns, "dns", true, "deploy the cluster DNS (CoreDNS)")
	fs.StringVar(&c.runtimeEndpoint, "runtime-endpoint", "", "run node 1's kubelet on this CRI endpoint instead of a crid started here")
	listen := fs.String("listen", hostIP+":0", "registry: address to serve on")
	addrFile := fs.String("addr-file", "", "registry: file to write the address to once the images are served")
	focus := fs.String("focus", ".", "summary: count only the specs whose name matches this regex")
	skipList := fs.String("skip-list", "", "summary: the skip list (hack/cluster/conformance-skip.txt), to give each listed spec its reason")
	_ = fs.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "up":
		err = up(ctx, c)
	case "down":
		err = down(c)
	case "check":
		err = check(ctx, c)
	case "summary":
		err = summary(os.Stdout, *focus, *skipList, fs.Args())
	case "registry":
		err = serveRegistry(ctx, c, *listen, *addrFile)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cluster up|down|check|summary|registry [flags] (see -h of each)")
	os.Exit(2)
}
