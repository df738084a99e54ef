package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// shmSize is the pod's /dev/shm, as Docker and containerd default it.
const shmSize = 64 << 20

type sysMounter struct{}

func (sysMounter) MountShm(path string, size int64) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	opts := fmt.Sprintf("mode=1777,size=%d", size)
	if err := unix.Mount("shm", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount shm at %s: %w", path, err)
	}
	return nil
}

func (sysMounter) MountOverlayRO(lowers []string, target string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if len(lowers) == 1 {
		// overlayfs needs two lower dirs when there is no upper; one is a plain bind.
		if err := unix.Mount(lowers[0], target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", target, err)
		}
		return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
	}
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if err := unix.Mount("overlay", target, "overlay", unix.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("mount image overlay at %s: %w", target, err)
	}
	return nil
}

func (sysMounter) Unmount(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // not a mount point (any more): nothing to do
	}
	return fmt.Errorf("unmount %s: %w", path, err)
}

// writeFileAtomic replaces path so that a crash of crid leaves the old or the new
// content. Not fsynced: the pod files live in the state dir, volatile by design (tmpfs
// /run), as the pods they serve are across a power loss; RunPodSandbox rewrites them
// once the CNI plugins gave the pod its IPs, on its critical path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// podHostname is the pod's hostname: the configured one, the node's for host-network pods.
func podHostname(cfg *runtimeapi.PodSandboxConfig) string {
	if h := cfg.GetHostname(); h != "" {
		return h
	}
	if hostNetwork(cfg) {
		h, _ := os.Hostname()
		return h
	}
	return cfg.GetMetadata().GetName()
}

// AnnotationNetwork set to "none" on a pod asks for a network namespace with loopback
// only and no CNI ADD: docker's --network none, which `crid run` asks for this way since
// CRI has no such mode. A runtime that ignores it gives the pod its CNI network, which
// the client sees (the pod has an IP) and refuses.
const AnnotationNetwork = "crid.dev/network"

func noNetwork(cfg *runtimeapi.PodSandboxConfig) bool {
	return cfg.GetAnnotations()[AnnotationNetwork] == "none" && !hostNetwork(cfg)
}

func hostNetwork(cfg *runtimeapi.PodSandboxConfig) bool {
	return cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE
}

func hostIPC(cfg *runtimeapi.PodSandboxConfig) bool {
	return cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetIpc() == runtimeapi.NamespaceMode_NODE
}

// hostsFile is /etc/hosts for the pod: localhost and the pod's own name and IP. A
// host-network pod sees the node's file.
func hostsFile(cfg *runtimeapi.PodSandboxConfig, ips []string) ([]byte, error) {
	if hostNetwork(cfg) {
		return os.ReadFile("/etc/hosts")
	}
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if len(ips) > 0 {
		fmt.Fprintf(&b, "%s\t%s\n", ips[0], podHostname(cfg))
	}
	return []byte(b.String()), nil
}

// resolvConf renders the pod's DNS config, or the node's file when there is none.
func resolvConf(dns *runtimeapi.DNSConfig) ([]byte, error) {
	if dns == nil {
		data, err := os.ReadFile("/etc/resolv.conf")
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return data, err
	}
	var b strings.Builder
	for _, s := range dns.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.Searches, " "))
	}
	if len(dns.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.Options, " "))
	}
	return []byte(b.String()), nil
}

// writePodFiles writes hostname, hosts and resolv.conf into the pod dir.
func writePodFiles(dir string, cfg *runtimeapi.PodSandboxConfig, ips []string) error {
	hosts, err := hostsFile(cfg, ips)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	resolv, err := resolvConf(cfg.GetDnsConfig())
	if err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	files := map[string][]byte{
		"hostname":    []byte(podHostname(cfg) + "\n"),
		"hosts":       hosts,
		"resolv.conf": resolv,
	}
	for name, data := range files {
		if err := writeFileAtomic(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
