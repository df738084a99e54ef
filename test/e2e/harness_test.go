package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// binDir holds crid and crid-monitor: CRID_BIN_DIR, or a temp dir TestMain built them into.
var binDir string

// findBinaries sets binDir. It builds the binaries when CRID_BIN_DIR is unset so that a
// plain `go test ./test/e2e/...` tests the working tree; the returned func removes them.
func findBinaries() (func(), error) {
	if d := os.Getenv("CRID_BIN_DIR"); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		// go test runs in the package dir: a relative path means the module root's.
		if _, err := os.Stat(abs); err != nil && !filepath.IsAbs(d) {
			if root, rerr := moduleRoot(); rerr == nil {
				abs = filepath.Join(root, d)
			}
		}
		for _, b := range []string{"crid", "crid-monitor"} {
			if _, err := os.Stat(filepath.Join(abs, b)); err != nil {
				return nil, fmt.Errorf("CRID_BIN_DIR=%s: %w (run make build)", d, err)
			}
		}
		binDir = abs
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "crid-e2e-bin")
	if err != nil {
		return nil, err
	}
	modRoot, err := moduleRoot()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for _, pkg := range []string{"crid", "crid-monitor"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, pkg), "./cmd/"+pkg)
		cmd.Dir = modRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("go build ./cmd/%s: %v\n%s", pkg, err, out)
		}
	}
	binDir = dir
	return func() { os.RemoveAll(dir) }, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the crid module")
	}
	return filepath.Dir(mod), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Daemon is one crid process and everything made for it: a temp dir (short, since unix
// socket paths must stay under 108 bytes) holding root, state, hosts.d and the CNI config,
// and a test-private bridge and /24.
type Daemon struct {
	Dir      string // /tmp/ce<hex>
	Root     string
	State    string
	Sock     string
	HostsDir string
	CNIConf  string
	Bridge   string // also the CNI network name
	Subnet   string // "10.88.N.0/24"
	LogPath  string

	RT runtimeapi.RuntimeServiceClient
	IS runtimeapi.ImageServiceClient

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	conn   *grpc.ClientConn
	podIDs map[string]bool // every pod this daemon ever reported: cleanup looks for their leftovers
	ctrIDs map[string]bool
	extra  []string // extra crid flags
	bin    string   // binaries other than binDir's (daemonOptions.binDir)
	// podHandlers are the runtime handlers of pod configs made by podConfigOn.
	podHandlers sync.Map // *runtimeapi.PodSandboxConfig -> string
	config      string   // crid.toml
	cleaned     bool
}

// daemonOptions change how a Daemon starts.
type daemonOptions struct {
	extraFlags []string
	config     string // crid.toml's body; "" = the built-in defaults
	binDir     string // where crid and crid-monitor are; "" = the build under test (binDir)
}

// newDaemon prepares the dirs and config and starts crid. The caller owns cleanup
// (startDaemon does it through t.Cleanup).
func newDaemon(opts daemonOptions) (*Daemon, error) {
	dir, err := os.MkdirTemp("/tmp", "ce")
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		Dir:      dir,
		Root:     filepath.Join(dir, "r"),
		State:    filepath.Join(dir, "s"),
		Sock:     filepath.Join(dir, "s", "crid.sock"),
		HostsDir: filepath.Join(dir, "hosts.d"),
		CNIConf:  filepath.Join(dir, "net.d"),
		LogPath:  filepath.Join(dir, "crid.log"),
		podIDs:   map[string]bool{},
		ctrIDs:   map[string]bool{},
		extra:    opts.extraFlags,
		config:   opts.config,
		bin:      opts.binDir,
	}
	if err := d.writeConfig(); err != nil {
		os.RemoveAll(dir)
		releaseSubnet(d.Subnet)
		return nil, err
	}
	if err := d.Start(); err != nil {
		d.Cleanup()
		return nil, err
	}
	return d, nil
}

// startDaemon starts a crid of the test's own and cleans it up when the test ends.
func startDaemon(t *testing.T, opts daemonOptions) *Daemon {
	t.Helper()
	d, err := newDaemon(opts)
	if err != nil {
		t.Fatalf("start crid: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("crid log (tail):\n%s", d.logTail(0, 8000))
		}
		for _, err := range d.Cleanup() {
			t.Errorf("cleanup: %v", err)
		}
	})
	return d
}

func (d *Daemon) writeConfig() error {
	net, err := pickSubnet()
	if err != nil {
		return err
	}
	d.Bridge = "crie2e" + randHex(3)
	d.Subnet = net
	if err := os.MkdirAll(d.CNIConf, 0o755); err != nil {
		return err
	}
	gw := strings.TrimSuffix(net, "0/24") + "1"
	// cniVersion 0.4.0, as crid's default network (cni.DefaultCNIVersion): the VM
	// tier's Debian 11 plugins (0.9) refuse 1.0.0.
	conf := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{ "subnet": %q, "gateway": %q }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
`, d.Bridge, d.Bridge, filepath.Join(d.Dir, "ipam"), net, gw)
	if err := os.WriteFile(filepath.Join(d.CNIConf, "10-e2e.conflist"), []byte(conf), 0o644); err != nil {
		return err
	}
	for _, h := range reg.hosts() {
		if err := d.AllowPlainHTTP(h); err != nil {
			return err
		}
	}
	// Nothing may leave the machine: any registry without its own entry goes nowhere.
	return writeHostsToml(d.HostsDir, "_default", `server = "http://127.0.0.1:1/none"
override_path = true
capabilities = ["pull", "resolve"]
`)
}

// writeHostsToml writes <dir>/<host>/hosts.toml (containerd's certs.d layout).
func writeHostsToml(dir, host, body string) error {
	p := filepath.Join(dir, host)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p, "hosts.toml"), []byte(body), 0o644)
}

// AllowPlainHTTP maps a registry host (127.0.0.1:PORT) to plain HTTP.
func (d *Daemon) AllowPlainHTTP(host string) error {
	return writeHostsToml(d.HostsDir, host, fmt.Sprintf("server = %q\ncapabilities = [\"pull\", \"resolve\"]\n", "http://"+host))
}

// pickSubnet returns a 10.88.N.0/24 (N in 64-127) no host route uses. The shared cni0
// bridge holds 10.88.0.0/16, and a more specific /24 on our bridge would steal the host's
// route to any pod of theirs in it: the critest kit counts up from 10.88.0.2, crid's
// default network uses 10.88.128-191 and a second containerd 10.88.192 and up, so 64-127
// stays clear of all of them.
func pickSubnet() (string, error) {
	used, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return "", fmt.Errorf("ip route: %w", err)
	}
	for range 50 {
		b := make([]byte, 1)
		rand.Read(b)
		n := 64 + int(b[0])%64
		prefix := fmt.Sprintf("10.88.%d.", n)
		if !strings.Contains(string(used), prefix) && reserveSubnet(n) {
			return prefix + "0/24", nil
		}
	}
	return "", errors.New("no free /24 in 10.88.64-127")
}

// subnetLocks holds one file per /24 in use by a daemon of any e2e run on this machine:
// a daemon's bridge (and so its route) appears only with its first pod, so the route
// check alone would let two concurrent runs pick the same /24.
const subnetLocks = "/run/crid-e2e-subnets"

// reserveSubnet takes 10.88.n.0/24 for this process unless a live process holds it.
func reserveSubnet(n int) bool {
	if err := os.MkdirAll(subnetLocks, 0o755); err != nil {
		return false
	}
	path := filepath.Join(subnetLocks, fmt.Sprint(n))
	for range 2 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			fmt.Fprint(f, os.Getpid())
			f.Close()
			return true
		}
		b, _ := os.ReadFile(path)
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && (pid == os.Getpid() || hoststate.Alive(pid)) {
			return false
		}
		os.Remove(path) // its owner died without cleanup
	}
	return false
}

// releaseSubnet gives the /24 back.
func releaseSubnet(subnet string) {
	var a, b, n int
	if _, err := fmt.Sscanf(subnet, "%d.%d.%d.0/24", &a, &b, &n); err == nil {
		os.Remove(filepath.Join(subnetLocks, fmt.Sprint(n)))
	}
}

func (d *Daemon) args() []string {
	a := []string{
		"--root", d.Root,
		"--state", d.State,
		"--listen", "unix://" + d.Sock,
		"--registry-config-dir", d.HostsDir,
		"--cni-conf-dir", d.CNIConf,
		"--cni-bin-dir", "/usr/lib/cni",
		"--metrics-listen", "",
		"--log-level", "debug",
		"--config", filepath.Join(d.Dir, "crid.toml"),
	}
	return append(a, d.extra...)
}

// Start runs crid and waits until it answers Version on its socket.
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return errors.New("crid already running")
	}
	// The test's config (empty: the built-in defaults), whatever /etc/crid/crid.toml says.
	config := d.config
	if v := os.Getenv("CRID_E2E_MONITOR_IDLE"); v != "" && !strings.Contains(config, "monitor_idle_switch") {
		// Every monitor switches to its C body this soon: the whole suite as a test of the switch.
		config = fmt.Sprintf("monitor_idle_switch = %q\n", v) + config
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "crid.toml"), []byte(config), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== e2e: starting crid %s\n", strings.Join(d.args(), " "))
	bin := binDir
	if d.bin != "" {
		bin = d.bin
	}
	cmd := exec.Command(filepath.Join(bin, "crid"), d.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a Ctrl-C of `go test` does not reach it before cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.cmd, d.exited = cmd, exited

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			d.cmd = nil
			return fmt.Errorf("crid exited during start (%v):\n%s", cmd.ProcessState, d.logTail(0, 4000))
		default:
		}
		if c, err := net.DialTimeout("unix", d.Sock, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("crid socket %s not up after 60s:\n%s", d.Sock, d.logTail(0, 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+d.Sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(32<<20)))
	if err != nil {
		return err
	}
	d.conn = conn
	d.RT = runtimeapi.NewRuntimeServiceClient(conn)
	d.IS = runtimeapi.NewImageServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.RT.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		return fmt.Errorf("Version: %w", err)
	}
	return nil
}

// Pid is the running crid's pid (0 when stopped).
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Stop sends sig to crid and waits for it to exit (SIGKILL after 30s).
func (d *Daemon) Stop(sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return nil
	}
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	var err error
	d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("crid did not exit 30s after %v; killed", sig)
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
	return err
}

// Restart stops crid with sig and starts it again on the same dirs.
func (d *Daemon) Restart(sig syscall.Signal) error {
	if err := d.Stop(sig); err != nil {
		return err
	}
	return d.Start()
}

// logTail returns up to limit bytes of the log from offset on (the last limit bytes).
func (d *Daemon) logTail(offset int64, limit int64) string {
	f, err := os.Open(d.LogPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if st.Size()-offset > limit {
		offset = st.Size() - limit
	}
	_, _ = f.Seek(offset, io.SeekStart)
	b, _ := io.ReadAll(f)
	return string(b)
}

func (d *Daemon) logSize() int64 {
	st, err := os.Stat(d.LogPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// ctx is a context for one CRI call or step.
func ctxT(t testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}
