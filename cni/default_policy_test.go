package cni

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

const flannelConf = `{"cniVersion": "1.0.0", "name": "cbr0", "plugins": [{"type": "bridge", "bridge": "cni0"}]}`

// TestDefaultNetworkYieldsToClusterConfig: crid's default network is written into an empty
// dir, sorts after a cluster CNI's file, and is ignored and removed as soon as another
// config appears; with a cluster config already there it is never written.
func TestDefaultNetworkYieldsToClusterConfig(t *testing.T) {
	bins := fakePlugins(t, "bridge", "host-local", "portmap", "loopback")
	conf := t.TempDir()
	standalone := func() bool { return false }
	m := newTestManager(t, Config{ConfDir: conf, BinDirs: []string{bins}, WriteDefaultConfig: true, ClusterMode: standalone})
	if list, err := m.current(); err != nil || list.Name != "crid" {
		t.Fatalf("default network not in use on an empty dir: %v %v", list, err)
	}
	if "10-flannel.conflist" >= DefaultConfigFile || "99-calico.conflist" >= DefaultConfigFile {
		t.Fatalf("%s does not sort after cluster CNI files", DefaultConfigFile)
	}

	// The cluster's CNI installs its config: used at once, crid's file gone.
	writeFile(t, filepath.Join(conf, "10-flannel.conflist"), flannelConf)
	if list, err := m.current(); err != nil || list.Name != "cbr0" {
		t.Fatalf("after a cluster config appeared: %v %v", list, err)
	}
	if _, err := os.Stat(filepath.Join(conf, DefaultConfigFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("crid's default config not removed: %v", err)
	}

	// An operator's edited copy of the default is kept, but still ignored next to another config.
	writeFile(t, filepath.Join(conf, DefaultConfigFile), strings.Replace(DefaultConfig, "crid0", "mine0", 1))
	writeFile(t, filepath.Join(conf, "00-broken.conflist"), "{")
	os.Remove(filepath.Join(conf, "10-flannel.conflist"))
	if list, err := m.current(); err == nil {
		t.Fatalf("the default was used next to another (broken) config: %v", list.Name)
	}
	if _, err := os.Stat(filepath.Join(conf, DefaultConfigFile)); err != nil {
		t.Fatalf("an edited default was removed: %v", err)
	}

	// A restart with a cluster config present never writes the default.
	conf2 := t.TempDir()
	writeFile(t, filepath.Join(conf2, "10-flannel.conflist"), flannelConf)
	m2 := newTestManager(t, Config{ConfDir: conf2, BinDirs: []string{bins}, WriteDefaultConfig: true, ClusterMode: standalone})
	if list, err := m2.current(); err != nil || list.Name != "cbr0" {
		t.Fatalf("%v %v", list, err)
	}
	if _, err := os.Stat(filepath.Join(conf2, DefaultConfigFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("default written next to a cluster config: %v", err)
	}
}

// TestDefaultNetworkNotInClusterMode: with kubelet in cluster mode the default is not
// written (the node stays NetworkNotReady until the cluster CNI comes) unless asked for; a
// default in use is dropped once kubelet turns out to be in cluster mode.
func TestDefaultNetworkNotInClusterMode(t *testing.T) {
	bins := fakePlugins(t, "bridge", "host-local", "portmap", "loopback")
	var cluster atomic.Bool
	cluster.Store(true)
	mode := func() bool { return cluster.Load() }

	conf := t.TempDir()
	m := newTestManager(t, Config{ConfDir: conf, BinDirs: []string{bins}, WriteDefaultConfig: true, ClusterMode: mode})
	if err := m.Ready(); err == nil {
		t.Fatal("network ready on crid's default while kubelet is in cluster mode")
	}
	if _, err := os.Stat(filepath.Join(conf, DefaultConfigFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("default written in cluster mode: %v", err)
	}

	asked := t.TempDir()
	m = newTestManager(t, Config{ConfDir: asked, BinDirs: []string{bins}, WriteDefaultConfig: true, DefaultInCluster: true, ClusterMode: mode})
	if err := m.Ready(); err != nil {
		t.Fatalf("asked for the default in cluster mode: %v", err)
	}

	cluster.Store(false)
	conf3 := t.TempDir()
	m = newTestManager(t, Config{ConfDir: conf3, BinDirs: []string{bins}, WriteDefaultConfig: true, ClusterMode: mode})
	if err := m.Ready(); err != nil {
		t.Fatal(err)
	}
	cluster.Store(true)
	m.clusterMode.at = m.clusterMode.at.Add(-2 * clusterModeTTL) // as if the cache expired
	if err := m.Ready(); err == nil || !strings.Contains(err.Error(), "cluster mode") {
		t.Fatalf("default still in use after kubelet turned to cluster mode: %v", err)
	}
	if _, err := os.Stat(filepath.Join(conf3, DefaultConfigFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("default not removed in cluster mode: %v", err)
	}
}

// TestKubeletClusterModeProbe reads a fake /proc and kubeconfig path.
func TestKubeletClusterModeProbe(t *testing.T) {
	proc := t.TempDir()
	proc1 := func(pid, comm, cmdline string) {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(proc, pid, "comm"), comm+"\n")
		writeFile(t, filepath.Join(proc, pid, "cmdline"), strings.ReplaceAll(cmdline, " ", "\x00"))
	}
	proc1("1", "init", "/sbin/init")
	proc1("50", "kubelet", "/usr/bin/kubelet --pod-manifest-path=/etc/kubernetes/manifests")
	noConf := filepath.Join(proc, "no-kubelet.conf")
	if KubeletClusterMode(proc, noConf) {
		t.Fatal("a standalone kubelet counted as cluster mode")
	}
	proc1("60", "kubelet", "/usr/bin/kubelet --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml")
	if !KubeletClusterMode(proc, noConf) {
		t.Fatal("kubelet --kubeconfig not seen")
	}
	os.RemoveAll(filepath.Join(proc, "60"))
	writeFile(t, noConf, "apiVersion: v1\n")
	if !KubeletClusterMode(proc, noConf) {
		t.Fatal("kubeadm's kubelet.conf not seen")
	}
}
