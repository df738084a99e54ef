package cni

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/internal/testenv"
)

// requireNetworking skips unless the test can really run plugins: root,
// Debian's (or upstream's) plugins, iproute2 and iptables.
func requireNetworking(t testing.TB) {
	t.Helper()
	if !testenv.Privileged() {
		t.Skip("needs root: creates network namespaces, bridges and iptables rules")
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback", "bandwidth"} {
		if _, err := invoke.FindInPath(p, DefaultBinDirs); err != nil {
			t.Skipf("CNI plugin %q not installed in %v (apt-get install containernetworking-plugins)", p, DefaultBinDirs)
		}
	}
	for _, tool := range []string{"ip", "iptables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testNet is a private network for one test: its own bridge, a /24 of the
// pod CIDR no route on the host uses yet, its own host-local store, conf,
// netns and cache dirs. Cleanup removes the bridge and every pod left.
type testNet struct {
	t        testing.TB
	name     string
	bridge   string
	subnet   *net.IPNet
	dataDir  string
	binDir   string // test-only plugins, searched first
	cfg      Config
	m        *Manager
	confJSON string
}

// newTestNet builds the network from crid's DefaultConfig, so the default
// chain itself is what gets exercised; edit may change the plugin list.
func newTestNet(t testing.TB, edit func(plugins []any) []any) *testNet {
	t.Helper()
	requireNetworking(t)
	tn := &testNet{
		t:      t,
		name:   "crid-test-" + randHex(t, 4),
		bridge: "crt" + randHex(t, 3),
		binDir: t.TempDir(),
	}
	tn.subnet = freeSubnet(t)
	tn.dataDir = t.TempDir()
	var conf map[string]any
	if err := json.Unmarshal([]byte(DefaultConfig), &conf); err != nil {
		t.Fatal(err)
	}
	conf["name"] = tn.name
	plugins := conf["plugins"].([]any)
	bridge := plugins[0].(map[string]any)
	bridge["bridge"] = tn.bridge
	ipam := bridge["ipam"].(map[string]any)
	ipam["ranges"] = [][]map[string]string{{{"subnet": tn.subnet.String()}}}
	ipam["dataDir"] = tn.dataDir
	if edit != nil {
		plugins = edit(plugins)
	}
	conf["plugins"] = plugins
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tn.confJSON = string(b)
	state := t.TempDir()
	tn.cfg = Config{
		ConfDir:  filepath.Join(state, "net.d"),
		BinDirs:  append([]string{tn.binDir}, DefaultBinDirs...),
		NetNSDir: filepath.Join(state, "netns"),
		CacheDir: filepath.Join(state, "cache"),
	}
	for name, script := range map[string]string{"crid-test-fail": failPlugin, "crid-test-slow": slowPlugin} {
		if err := os.WriteFile(filepath.Join(tn.binDir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(tn.cfg.ConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tn.cfg.ConfDir, "10-test.conflist"), tn.confJSON)
	t.Cleanup(func() {
		// Registered before any pod, so it runs after their cleanups.
		if out, err := exec.Command("ip", "link", "del", tn.bridge).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "Cannot find device") {
			t.Errorf("deleting bridge %s: %v: %s", tn.bridge, err, out)
		}
		if err := unix.Unmount(tn.cfg.NetNSDir, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			t.Errorf("unmounting %s: %v", tn.cfg.NetNSDir, err)
		}
	})
	tn.m = newTestManager(t, tn.cfg)
	if err := tn.m.Ready(); err != nil {
		t.Fatalf("test network not ready: %v", err)
	}
	return tn
}

// freeSubnet picks 10.88.<100..127>.0/24 that no host route mentions, so
// tests running side by side do not collide. The range lies below crid's
// default pool (10.88.128.1 up) and far above the kit's (10.88.0.2 up), so
// the test bridge's more specific route hides no running pod.
func freeSubnet(t testing.TB) *net.IPNet {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		n, err := rand.Int(rand.Reader, big.NewInt(28))
		if err != nil {
			t.Fatal(err)
		}
		prefix := fmt.Sprintf("10.88.%d.", 100+n.Int64())
		if !strings.Contains(string(out), prefix) {
			_, subnet, _ := net.ParseCIDR(prefix + "0/24")
			return subnet
		}
	}
	t.Fatal("no free 10.88.x.0/24 subnet")
	return nil
}

// newPod pins a netns for a fresh pod and registers its teardown, so even a
// failing test leaves no veth, address, rule or namespace behind.
func (tn *testNet) newPod(name string, ports ...PortMapping) Pod {
	tn.t.Helper()
	id := randHex(tn.t, 16)
	path, err := tn.m.NewNetNS(id)
	if err != nil {
		tn.t.Fatal(err)
	}
	pod := Pod{ID: id, Name: name, Namespace: "crid-test", UID: "uid-" + id, NetNS: path, PortMappings: ports}
	tn.t.Cleanup(func() {
		if err := tn.m.Teardown(context.Background(), pod); err != nil {
			tn.t.Errorf("cleanup teardown of %s: %v", name, err)
		}
		if err := tn.m.RemoveNetNS(path); err != nil {
			tn.t.Errorf("cleanup netns of %s: %v", name, err)
		}
	})
	return pod
}

func (tn *testNet) setup(pod Pod) []string {
	tn.t.Helper()
	res, err := tn.m.Setup(context.Background(), pod)
	if err != nil {
		tn.t.Fatalf("setup %s: %v", pod.Name, err)
	}
	if len(res.IPs) == 0 || !tn.subnet.Contains(net.ParseIP(res.IPs[0])) {
		tn.t.Fatalf("setup %s: IPs %v not in %v", pod.Name, res.IPs, tn.subnet)
	}
	return res.IPs
}

// down tears the pods down as the sandbox does (DEL, then the netns) and
// checks that nothing of them is left.
func (tn *testNet) down(pods ...Pod) {
	tn.t.Helper()
	for _, p := range pods {
		if err := tn.m.Teardown(context.Background(), p); err != nil {
			tn.t.Fatalf("teardown %s: %v", p.Name, err)
		}
		if err := tn.m.RemoveNetNS(p.NetNS); err != nil {
			tn.t.Fatal(err)
		}
	}
	for _, p := range pods {
		tn.assertGone(p)
	}
	tn.assertBridgeEmpty()
}

// assertRolledBack checks, after a failed Setup, that nothing of the pod is left but
// its netns (which the sandbox removes itself: removed here first). No Teardown runs
// before the checks: it would hide a missing rollback.
func (tn *testNet) assertRolledBack(pod Pod) {
	tn.t.Helper()
	if err := tn.m.RemoveNetNS(pod.NetNS); err != nil {
		tn.t.Fatal(err)
	}
	tn.assertGone(pod)
	tn.assertBridgeEmpty()
}

// assertGone checks that nothing of pod is left on the host: its netns
// file, iptables rules naming it, its host-local reservation and its libcni
// cache entry. Veths are checked per bridge, by assertBridgeEmpty.
func (tn *testNet) assertGone(pod Pod) {
	tn.t.Helper()
	if _, err := os.Lstat(pod.NetNS); !errors.Is(err, fs.ErrNotExist) {
		tn.t.Errorf("netns %s still exists (%v)", pod.NetNS, err)
	}
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(cmd).Output()
		if err != nil {
			continue // ip6tables may be missing; iptables was required
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, pod.ID) {
				tn.t.Errorf("%s still has a rule for the pod: %s", cmd, line)
			}
		}
	}
	for ip, owner := range tn.reservations() {
		if strings.Contains(owner, pod.ID) {
			tn.t.Errorf("host-local still reserves %s for the pod", ip)
		}
	}
	if atts, _ := tn.m.cni.GetCachedAttachments(pod.ID); len(atts) > 0 {
		tn.t.Errorf("libcni cache still has %d entries for the pod", len(atts))
	}
}

// assertBridgeEmpty checks, once every pod is down, that no veth is left on
// the test bridge and no rule names the test network.
func (tn *testNet) assertBridgeEmpty() {
	tn.t.Helper()
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", tn.bridge).CombinedOutput(); strings.Contains(string(out), "veth") {
		tn.t.Errorf("veths left on %s:\n%s", tn.bridge, out)
	}
	if out, _ := exec.Command("iptables-save").Output(); strings.Contains(string(out), tn.name) {
		tn.t.Errorf("iptables still names network %s", tn.name)
	}
	if ips := tn.reservations(); len(ips) > 0 {
		tn.t.Errorf("host-local reservations left: %v", ips)
	}
}

// reservations maps each address host-local reserved in the test's store
// to the content of its file (container ID and interface).
func (tn *testNet) reservations() map[string]string {
	dir := filepath.Join(tn.dataDir, tn.name)
	entries, _ := os.ReadDir(dir)
	ips := map[string]string{}
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			ips[e.Name()] = string(b)
		}
	}
	return ips
}

// inNetNS runs fn on an OS thread switched into the namespace at path.
// Sockets fn creates belong to that namespace and can be used from any
// goroutine afterwards. The thread returns to its namespace and is never
// unlocked, as in pinNewNetNS.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
			if err != nil {
				return err
			}
			defer orig.Close()
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("setns %s: %w", path, err)
			}
			defer func() { _ = unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) }()
			return fn()
		}()
	}()
	return <-errc
}

// serve starts a TCP server in the pod's netns that greets each client
// with msg; it stops at test end.
func serve(t testing.TB, netns, addr, msg string) net.Addr {
	t.Helper()
	var ln net.Listener
	if err := inNetNS(netns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, msg)
			c.Close()
		}
	}()
	return ln.Addr()
}

// fetch connects to addr (from netns, or from the host when netns is "")
// and returns the first line the server sends.
func fetch(netns, addr string) (string, error) {
	var c net.Conn
	dial := func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}
	var err error
	if netns == "" {
		err = dial()
	} else {
		err = inNetNS(netns, dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// freeHostPort returns a TCP port nothing listens on at the moment.
func freeHostPort(t testing.TB) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}
