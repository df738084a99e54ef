package cni

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// crid's default network must never take over a cluster's (CRI-O hit exactly this: a node
// went Ready on the runtime's bridge before the cluster CNI was installed). So:
//   - it is written only into a conf dir with no other config, and not at all while kubelet
//     runs in cluster mode, unless Config.DefaultInCluster asks for it;
//   - it sorts after any cluster CNI's file (DefaultConfigFile);
//   - as soon as another config appears, or kubelet turns out to run in cluster mode, it is
//     ignored, and removed when it is still exactly what crid wrote.

// KubeletConf is where kubeadm puts the kubeconfig of a kubelet that joined a cluster.
const KubeletConf = "/etc/kubernetes/kubelet.conf"

// clusterModeTTL bounds how often the process table is scanned for kubelet.
const clusterModeTTL = 10 * time.Second

// KubeletClusterMode reports whether a kubelet of a cluster runs (or is set up) here: a
// kubeconfig at kubeletConf, or a kubelet process under procRoot started with
// --kubeconfig or --bootstrap-kubeconfig. A standalone kubelet (static pods only) has neither.
func KubeletClusterMode(procRoot, kubeletConf string) bool {
	if _, err := os.Stat(kubeletConf); err == nil {
		return true
	}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "kubelet" {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			a := string(arg)
			if strings.HasPrefix(a, "--kubeconfig") || strings.HasPrefix(a, "--bootstrap-kubeconfig") {
				return true
			}
		}
	}
	return false
}

// clusterModeCache remembers KubeletClusterMode for clusterModeTTL: Ready runs on every
// kubelet Status poll.
type clusterModeCache struct {
	probe func() bool

	mu    sync.Mutex
	value bool
	at    time.Time
}

func (c *clusterModeCache) get() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) > clusterModeTTL {
		c.value, c.at = c.probe(), time.Now()
	}
	return c.value
}

// defaultBlocked says why crid's default network may not be used now, "" if it may.
func (m *Manager) defaultBlocked() string {
	if !m.cfg.DefaultInCluster && m.clusterMode.get() {
		return "kubelet runs in cluster mode (" + KubeletConf + " or --kubeconfig): the cluster's CNI provides the network; set cni_default_network_in_cluster to use crid's default anyway"
	}
	return ""
}

// hasOtherConfig reports whether dir holds a network config that is not crid's default.
func hasOtherConfig(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if isConfFile(e.Name()) && e.Name() != DefaultConfigFile {
			return true
		}
	}
	return false
}

// retireDefault removes crid's default config from dir when it is exactly what crid wrote
// (an operator's edited copy is theirs to keep; it is ignored all the same).
func retireDefault(dir, why string) {
	p := filepath.Join(dir, DefaultConfigFile)
	b, err := os.ReadFile(p)
	if err != nil || string(b) != DefaultConfig {
		return
	}
	if err := os.Remove(p); err != nil {
		slog.Warn("cni: could not remove crid's default network config", "file", p, "err", err)
		return
	}
	slog.Info("cni: removed crid's default network config", "file", p, "why", why)
}

// blockedDefaultErr is the not-ready reason when only crid's default config exists but may
// not be used.
func blockedDefaultErr(dir, why string) error {
	return fmt.Errorf("cni: no network config in %s but crid's default, which is not used: %s: %w", dir, why, errdefs.ErrUnavailable)
}
