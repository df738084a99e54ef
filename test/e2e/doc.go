// Package e2e starts real crid binaries and drives them only through CRI gRPC, the way
// kubelet does: images from an in-process registry on 127.0.0.1, pods on a test-private
// CNI bridge, exec/attach/port-forward through the streaming URL, and daemon restarts with
// live pods.
//
// The tests need root, the binaries (CRID_BIN_DIR, else they are built into a temp dir),
// Debian's CNI plugins in /usr/lib/cni and iptables. Every test removes what it made —
// processes, mounts, cgroups, the bridge, iptables rules — even when it fails, and a
// failed cleanup fails the test.
package e2e
