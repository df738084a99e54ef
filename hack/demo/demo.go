package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

const (
	imageRef     = "crid.local/demo/busybox:latest"
	defaultConf  = "/etc/cni/net.d/zz-crid-default.conflist" // what crid writes into an empty conf dir
	defaultNet   = "crid"                                    // its network name (host-local store dir)
	defaultBr    = "crid0"                                   // and bridge (crid's own, never a cluster CNI's)
	hostLocalDir = "/var/lib/cni/networks/"
)

type demo struct {
	binDir   string
	keepLogs bool

	dir, root, state, sock, logPath string
	metricsAddr                     string

	cmd    *exec.Cmd
	exited chan struct{}
	conn   *grpc.ClientConn
	rt     runtimeapi.RuntimeServiceClient
	is     runtimeapi.ImageServiceClient

	// What existed before the demo: cleanup removes only what it added.
	hadConf, hadBridge, hadIPAMDir bool
	newCgroups                     []string // crid's default cgroup parent, where the demo made it
	podIDs                         []string
}

func (d *demo) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

func (d *demo) run(ctx context.Context) error {
	steps := []struct {
		title string
		fn    func(context.Context) error
	}{
		{"Start crid on its built-in defaults", d.startCrid},
		{"Build a busybox image locally and import it with `crid image import`", d.importImage},
		{"Run a pod with a web server container and a hostPort", d.runPod},
		{"Fetch the page through the hostPort with curl", d.fetch},
		{"The container's logs (CRI log format)", d.showLogs},
		{"Exec a command in the container (ExecSync)", d.exec},
		{"Container stats and crid's metrics", d.stats},
		{"Stop and remove the container, the pod and the image", d.teardown},
		{"Stop crid", d.stopCrid},
	}
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted")
		}
		step("%d/%d %s", i+1, len(steps), s.title)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}
	return nil
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func (d *demo) startCrid(ctx context.Context) error {
	var err error
	// Short paths: the pods' monitor sockets live under the state dir and a unix socket
	// path must stay under 108 bytes.
	if d.dir, err = os.MkdirTemp("/tmp", "cdemo"); err != nil {
		return err
	}
	d.root, d.state = filepath.Join(d.dir, "r"), filepath.Join(d.dir, "s")
	d.sock, d.logPath = filepath.Join(d.state, "crid.sock"), filepath.Join(d.dir, "crid.log")
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	d.metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)

	d.hadConf, d.hadBridge, d.hadIPAMDir = exists(defaultConf), exists("/sys/class/net/"+defaultBr), exists(hostLocalDir+defaultNet)
	d.newCgroups = hoststate.MissingCgroups("crid")
	confs, _ := filepath.Glob("/etc/cni/net.d/*.conf*")
	if len(confs) == 0 {
		say("/etc/cni/net.d has no network config: crid writes its default (bridge %s, pods from 10.89.0.2).", defaultBr)
	} else {
		say("crid uses the network config already in /etc/cni/net.d: %s", strings.Join(confs, ", "))
	}

	args := []string{"--root", d.root, "--state", d.state, "--listen", "unix://" + d.sock, "--metrics-listen", d.metricsAddr}
	say("$ %s %s", filepath.Join(d.binDir, "crid"), strings.Join(args, " "))
	logf, err := os.Create(d.logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	d.cmd = exec.Command(filepath.Join(d.binDir, "crid"), args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the demo, which stops crid in order
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.exited = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.exited) }()

	// Generous: a first start loads crid's AppArmor profile (apparmor_parser), which
	// in the VM tier's emulated Debian 11 guest alone takes longer than 30s.
	const startWait = 2 * time.Minute
	deadline := time.Now().Add(startWait)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("crid exited: %v", d.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("unix", d.sock, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("socket %s not up after %v", d.sock, startWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.conn, err = grpc.NewClient("unix://"+d.sock, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return err
	}
	d.rt, d.is = runtimeapi.NewRuntimeServiceClient(d.conn), runtimeapi.NewImageServiceClient(d.conn)
	c, cancel := d.call()
	defer cancel()
	v, err := d.rt.Version(c, &runtimeapi.VersionRequest{})
	if err != nil {
		return fmt.Errorf("calling Version: %w", err)
	}
	say("crid pid %d answers on %s: %s %s (CRI %s)", d.cmd.Process.Pid, d.sock, v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	// The network turns ready once crid has loaded a CNI config.
	var st *runtimeapi.StatusResponse
	for deadline := time.Now().Add(15 * time.Second); ; {
		if st, err = d.rt.Status(c, &runtimeapi.StatusRequest{}); err != nil {
			return fmt.Errorf("calling Status: %w", err)
		}
		ready := true
		for _, cond := range st.Status.Conditions {
			ready = ready && cond.Status
		}
		if ready || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, cond := range st.Status.Conditions {
		say("  %-15s %-5v %s", cond.Type, cond.Status, cond.Message)
		if !cond.Status {
			return fmt.Errorf("condition %s not ready: %s %s", cond.Type, cond.Reason, cond.Message)
		}
	}
	return nil
}

func (d *demo) importImage(ctx context.Context) error {
	tarPath := filepath.Join(d.dir, "busybox.tar")
	if err := buildImageTar(tarPath, imageRef); err != nil {
		return err
	}
	fi, err := os.Stat(tarPath)
	if err != nil {
		return err
	}
	say("built %s from the host's Debian busybox: %s (%.1f MB docker-save tar)", imageRef, tarPath, float64(fi.Size())/1e6)
	args := []string{"image", "import", "--root", d.root, "--state", d.state, tarPath}
	say("$ crid %s", strings.Join(args, " "))
	out, err := exec.CommandContext(ctx, filepath.Join(d.binDir, "crid"), args...).CombinedOutput()
	show(string(out))
	if err != nil {
		return fmt.Errorf("crid image import: %w", err)
	}
	c, cancel := d.call()
	defer cancel()
	list, err := d.is.ListImages(c, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return fmt.Errorf("ListImages: %w", err)
	}
	say("ListImages:")
	found := false
	for _, img := range list.Images {
		show(fmt.Sprintf("%-45s %.19s  %.1f MB", strings.Join(img.RepoTags, ","), img.Id, float64(img.Size)/1e6))
		for _, t := range img.RepoTags {
			found = found || t == imageRef
		}
	}
	if !found {
		return fmt.Errorf("%s not listed after import", imageRef)
	}
	return nil
}

// The pod and container the demo runs.
var (
	hostPort int
	podCfg   *runtimeapi.PodSandboxConfig
	ctrCfg   *runtimeapi.ContainerConfig
	podID    string
	ctrID    string
)

func (d *demo) runPod(ctx context.Context) error {
	var err error
	if hostPort, err = freeLoopbackPort(); err != nil {
		return err
	}
	logDir := filepath.Join(d.dir, "pod-logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	podCfg = &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "demo", Uid: fmt.Sprintf("demo-%d", os.Getpid())},
		Hostname:     "web",
		LogDirectory: logDir,
		PortMappings: []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(hostPort), HostIp: "127.0.0.1"}},
		Labels:       map[string]string{"app": "web"},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	c, cancel := d.call()
	defer cancel()
	resp, err := d.rt.RunPodSandbox(c, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		return fmt.Errorf("RunPodSandbox: %w", err)
	}
	podID = resp.PodSandboxId
	d.podIDs = append(d.podIDs, podID)
	st, err := d.rt.PodSandboxStatus(c, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil {
		return fmt.Errorf("PodSandboxStatus: %w", err)
	}
	say("pod %.13s  state %v  IP %s  hostPort 127.0.0.1:%d -> 80", podID, st.Status.State, st.Status.GetNetwork().GetIp(), hostPort)

	page := "<h1>Hello from crid</h1><p>served by busybox httpd in pod web</p>"
	ctrCfg = &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "httpd"},
		Image:    &runtimeapi.ImageSpec{Image: imageRef},
		Command:  []string{"sh", "-c", "mkdir -p /www && echo '" + page + "' > /www/index.html && exec httpd -f -v -p 80 -h /www"},
		LogPath:  "httpd.log",
		Linux:    &runtimeapi.LinuxContainerConfig{},
	}
	cr, err := d.rt.CreateContainer(c, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctrCfg, SandboxConfig: podCfg})
	if err != nil {
		return fmt.Errorf("CreateContainer: %w", err)
	}
	ctrID = cr.ContainerId
	if _, err := d.rt.StartContainer(c, &runtimeapi.StartContainerRequest{ContainerId: ctrID}); err != nil {
		return fmt.Errorf("StartContainer: %w", err)
	}
	cs, err := d.rt.ContainerStatus(c, &runtimeapi.ContainerStatusRequest{ContainerId: ctrID})
	if err != nil {
		return fmt.Errorf("ContainerStatus: %w", err)
	}
	say("container %.13s  %s  state %v  command %q", ctrID, cs.Status.Image.GetImage(), cs.Status.State, ctrCfg.Command)
	if cs.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return fmt.Errorf("container is %v, not running", cs.Status.State)
	}
	return nil
}

func (d *demo) fetch(ctx context.Context) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/", hostPort)
	say("$ curl -sS %s", url)
	var out []byte
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; {
		out, err = exec.CommandContext(ctx, "curl", "-sS", "--max-time", "3", url).CombinedOutput()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond) // httpd may still be starting
	}
	show(string(out))
	if err != nil {
		return fmt.Errorf("curl %s: %w", url, err)
	}
	if !strings.Contains(string(out), "Hello from crid") {
		return fmt.Errorf("unexpected page %q", out)
	}
	return nil
}

func (d *demo) showLogs(ctx context.Context) error {
	path := filepath.Join(podCfg.LogDirectory, ctrCfg.LogPath)
	say("$ cat %s", path)
	// httpd -v logs each request to stderr; give the monitor a moment to write it.
	var b []byte
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err = os.ReadFile(path); err == nil && len(b) > 0 {
			break
		}
	}
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return errors.New("the log is empty: the request was not logged")
	}
	show(string(b))
	return nil
}

func (d *demo) exec(ctx context.Context) error {
	cmd := []string{"sh", "-c", "echo \"hello from $(hostname), uid $(id -u)\"; ls -l /www; ps -o pid,args"}
	say("ExecSync %q", cmd)
	c, cancel := d.call()
	defer cancel()
	resp, err := d.rt.ExecSync(c, &runtimeapi.ExecSyncRequest{ContainerId: ctrID, Cmd: cmd, Timeout: 10})
	if err != nil {
		return fmt.Errorf("ExecSync: %w", err)
	}
	show(string(resp.Stdout) + string(resp.Stderr))
	say("exit code %d", resp.ExitCode)
	if resp.ExitCode != 0 {
		return fmt.Errorf("exec exited %d", resp.ExitCode)
	}
	return nil
}

func (d *demo) stats(ctx context.Context) error {
	c, cancel := d.call()
	defer cancel()
	resp, err := d.rt.ContainerStats(c, &runtimeapi.ContainerStatsRequest{ContainerId: ctrID})
	if err != nil {
		return fmt.Errorf("ContainerStats: %w", err)
	}
	s := resp.Stats
	say("cpu %.1f ms, memory working set %.1f MiB, writable layer %d bytes",
		float64(s.GetCpu().GetUsageCoreNanoSeconds().GetValue())/1e6,
		float64(s.GetMemory().GetWorkingSetBytes().GetValue())/(1<<20),
		s.GetWritableLayer().GetUsedBytes().GetValue())
	fs, err := d.is.ImageFsInfo(c, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		return fmt.Errorf("ImageFsInfo: %w", err)
	}
	for _, f := range fs.ImageFilesystems {
		say("image filesystem %s: %.1f MB, %d inodes", f.GetFsId().GetMountpoint(), float64(f.GetUsedBytes().GetValue())/1e6, f.GetInodesUsed().GetValue())
	}
	url := "http://" + d.metricsAddr + "/metrics"
	say("$ curl -s %s | grep ^crid_ | grep -v _bucket | head", url)
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--max-time", "5", url).Output()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "crid_") && !strings.Contains(sc.Text(), "_bucket") {
			lines = append(lines, sc.Text())
		}
	}
	sort.Strings(lines)
	if len(lines) > 10 {
		lines = lines[:10]
	}
	show(strings.Join(lines, "\n"))
	return nil
}

func (d *demo) teardown(ctx context.Context) error {
	c, cancel := d.call()
	defer cancel()
	calls := []struct {
		name string
		fn   func() error
	}{
		{"StopContainer", func() error {
			_, err := d.rt.StopContainer(c, &runtimeapi.StopContainerRequest{ContainerId: ctrID, Timeout: 10})
			return err
		}},
		{"RemoveContainer", func() error {
			_, err := d.rt.RemoveContainer(c, &runtimeapi.RemoveContainerRequest{ContainerId: ctrID})
			return err
		}},
		{"StopPodSandbox", func() error {
			_, err := d.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
			return err
		}},
		{"RemovePodSandbox", func() error {
			_, err := d.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
			return err
		}},
		{"RemoveImage", func() error {
			_, err := d.is.RemoveImage(c, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: imageRef}})
			return err
		}},
	}
	for _, call := range calls {
		t0 := time.Now()
		if err := call.fn(); err != nil {
			return fmt.Errorf("%s: %w", call.name, err)
		}
		say("%-17s ok  %6.1f ms", call.name, float64(time.Since(t0).Microseconds())/1000)
	}
	d.podIDs = nil
	pods, err := d.rt.ListPodSandbox(c, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	if len(pods.Items) != 0 {
		return fmt.Errorf("pods still listed after removal: %v", pods.Items)
	}
	return nil
}

func (d *demo) stopCrid(ctx context.Context) error {
	if err := d.stopDaemon(); err != nil {
		return err
	}
	say("crid stopped (SIGTERM)")
	return nil
}

func (d *demo) stopDaemon() error {
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	select {
	case <-d.exited:
		return nil
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return errors.New("crid did not stop within 30s of SIGTERM; killed")
	}
}
