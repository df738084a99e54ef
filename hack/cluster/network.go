package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// run runs a command and returns its error with its output.
func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func linkExists(name string) bool {
	return exec.Command("ip", "link", "show", "dev", name).Run() == nil
}

// setupBridge makes the node network: bridge crc0 holding the host's address hostIP, which
// the apiserver, the registry and node 1 use.
func setupBridge(c *config, s *state) error {
	if linkExists(bridgeName) {
		return fmt.Errorf("link %s exists: another cluster is up (make cluster-down)", bridgeName)
	}
	s.Links = append(s.Links, bridgeName)
	if err := s.save(c.statePath()); err != nil {
		return err
	}
	for _, argv := range [][]string{
		{"ip", "link", "add", bridgeName, "type", "bridge"},
		{"ip", "addr", "add", hostIP + "/24", "dev", bridgeName},
		{"ip", "link", "set", bridgeName, "up"},
	} {
		if err := run(argv...); err != nil {
			return err
		}
	}
	// Node 1's pods live on the host: its pod bridge is made by the CNI plugin on the first
	// pod, and down removes it.
	s.Links = append(s.Links, podBridge)
	return s.save(c.statePath())
}

// setupNodeNetns gives node k (k >= 2) a network namespace with eth0 on crc0 at nodeIP(k),
// a default route through the host, and a host route to its pod range.
func setupNodeNetns(c *config, s *state, k int) error {
	ns, veth := netnsName(k), fmt.Sprintf("crcveth%d", k)
	s.Netns = append(s.Netns, ns)
	s.Links = append(s.Links, veth)
	if err := s.save(c.statePath()); err != nil {
		return err
	}
	for _, argv := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", veth, "master", bridgeName, "up"},
		{"ip", "-n", ns, "addr", "add", nodeIP(k) + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", hostIP},
		// Forwarding is per namespace: the node routes between its pods and crc0.
		{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "route", "add", podCIDR(k), "via", nodeIP(k), "dev", bridgeName},
	} {
		if err := run(argv...); err != nil {
			return err
		}
	}
	return nil
}

// inNode prefixes argv so that it runs in node k's network namespace (and only that: the
// mount namespace stays the host's, so kubelet's volume mounts are those crid binds).
func inNode(k int, argv []string) []string {
	if k == 1 {
		return argv
	}
	return append([]string{"nsenter", "--net=/run/netns/" + netnsName(k), "--"}, argv...)
}

// writeCNIConfig writes node k's network: a bridge with its pod range, host-local IPAM
// keeping its leases in the node's dir, portmap for hostPorts.
func writeCNIConfig(dir string, k int) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "crid-cluster",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      podBridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR(k)}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(dir, "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "net.d"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "net.d", "10-crid-cluster.conflist"), b, 0o644)
}
