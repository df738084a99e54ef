package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The images of the checks: the e2e busybox and agnhost that the cluster's registry serves.
const (
	checkBusybox = "registry.k8s.io/e2e-test-images/busybox:" + busyboxVersion
	checkAgnhost = "registry.k8s.io/e2e-test-images/agnhost:" + agnhostVersion
)

// nodeCheck is one kubelet node check: what a user of a node does first, observed through
// the Kubernetes API only (kubectl), against crid.
type nodeCheck struct {
	name string
	run  func(ctx context.Context, c *config, s *state) error
}

// check brings up a one-node cluster, runs the node checks on it, prints a line per check
// and "N passed, N failed", and takes the cluster down whatever happened.
func check(ctx context.Context, c *config) (err error) {
	c.nodes = 1
	if err := up(ctx, c); err != nil {
		return err
	}
	defer func() {
		if derr := down(c); derr != nil {
			err = errors.Join(err, fmt.Errorf("down: %w", derr))
		}
	}()
	s, err := loadState(c.statePath())
	if err != nil || s == nil {
		return fmt.Errorf("cluster state: %v", err)
	}
	checks := []nodeCheck{
		{"run and logs", checkLogs},
		{"exec", checkExec},
		{"port-forward", checkPortForward},
		{"probes", checkProbes},
		{"init containers", checkInitContainers},
		{"limits and OOM kill", checkLimits},
		{"deployment of 2 behind a service + DNS", checkDeployment},
		{"crid restarted under live pods", checkCridRestart},
	}
	passed, failed := 0, 0
	for _, ch := range checks {
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		err := ch.run(cctx, c, s)
		cancel()
		if err != nil {
			failed++
			fmt.Printf("FAIL %-36s %6s  %v\n", ch.name, time.Since(t0).Round(100*time.Millisecond), err)
			continue
		}
		passed++
		fmt.Printf("ok   %-36s %6s\n", ch.name, time.Since(t0).Round(100*time.Millisecond))
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d node checks failed (logs in %s)", failed, c.logs())
	}
	return nil
}

// apply creates the objects of a YAML manifest.
func apply(c *config, manifest string) error {
	cmd := exec.Command(filepath.Join(c.k8sBin, "kubectl"), "--kubeconfig", c.kubeconfig(), "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl apply: %w: %s", err, out)
	}
	return nil
}

// eventually polls f until it succeeds or ctx ends, returning f's last error.
func eventually(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

func jsonpath(c *config, obj, path string) (string, error) {
	out, err := kubectl(c, "get", obj, "-o", "jsonpath="+path)
	return strings.TrimSpace(out), err
}

func waitPodReady(ctx context.Context, c *config, pod string) error {
	return eventually(ctx, func() error {
		return kubectlQuiet(c, "wait", "--for=condition=Ready", "pod/"+pod, "--timeout=10s")
	})
}

func checkLogs(ctx context.Context, c *config, _ *state) error {
	if _, err := kubectl(c, "run", "logs", "--image="+checkBusybox, "--restart=Never", "--",
		"sh", "-c", "echo first line; echo to stderr >&2; echo last line"); err != nil {
		return err
	}
	if err := eventually(ctx, func() error {
		phase, err := jsonpath(c, "pod/logs", "{.status.phase}")
		if err == nil && phase != "Succeeded" {
			err = fmt.Errorf("phase %q", phase)
		}
		return err
	}); err != nil {
		return err
	}
	out, err := kubectl(c, "logs", "logs")
	if err != nil {
		return err
	}
	// stdout and stderr are two pipes: their lines interleave in any order, each stream's
	// own lines in theirs.
	if lines := strings.Split(out, "\n"); len(lines) != 4 || !strings.Contains(out, "to stderr\n") ||
		strings.Index(out, "first line") > strings.Index(out, "last line") {
		return fmt.Errorf("logs %q, want first line, last line and to stderr", out)
	}
	out, err = kubectl(c, "logs", "logs", "--tail=1")
	if err != nil {
		return err
	}
	if out != "last line\n" && out != "to stderr\n" {
		return fmt.Errorf("logs --tail=1 %q", out)
	}
	return kubectlQuiet(c, "delete", "pod", "logs", "--wait=false")
}

func checkExec(ctx context.Context, c *config, _ *state) error {
	if _, err := kubectl(c, "run", "exec", "--image="+checkBusybox, "--", "sleep", "3600"); err != nil {
		return err
	}
	if err := waitPodReady(ctx, c, "exec"); err != nil {
		return err
	}
	out, err := kubectl(c, "exec", "exec", "--", "cat", "/etc/hostname")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "exec" {
		return fmt.Errorf("hostname %q, want exec", out)
	}
	// The exit code comes back through the apiserver and kubectl.
	_, err = kubectl(c, "exec", "exec", "--", "sh", "-c", "exit 3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		return fmt.Errorf("exec of exit 3: %v", err)
	}
	// stdin reaches the process.
	cmd := exec.Command(filepath.Join(c.k8sBin, "kubectl"), "--kubeconfig", c.kubeconfig(), "exec", "-i", "exec", "--", "tr", "a-z", "A-Z")
	cmd.Stdin = strings.NewReader("crid\n")
	b, err := cmd.Output()
	if err != nil || string(b) != "CRID\n" {
		return fmt.Errorf("exec -i: %q, %v", b, err)
	}
	return kubectlQuiet(c, "delete", "pod", "exec", "--wait=false")
}

func checkPortForward(ctx context.Context, c *config, _ *state) error {
	if _, err := kubectl(c, "run", "pf", "--image="+checkAgnhost, "--", "netexec", "--http-port=8080"); err != nil {
		return err
	}
	if err := waitPodReady(ctx, c, "pf"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.k8sBin, "kubectl"), "--kubeconfig", c.kubeconfig(), "port-forward", "pod/pf", fmt.Sprintf("%d:8080", port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var body string
	err = eventually(ctx, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", port))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err
	})
	if err != nil {
		return err
	}
	if body != "pf" {
		return fmt.Errorf("GET /hostname through port-forward: %q, want pf", body)
	}
	return kubectlQuiet(c, "delete", "pod", "pf", "--wait=false")
}

func checkProbes(ctx context.Context, c *config, _ *state) error {
	// Ready through an HTTP readiness probe; restarted by an exec liveness probe that
	// starts failing once the container removes /tmp/healthy.
	if err := apply(c, `apiVersion: v1
kind: Pod
metadata: {name: probes}
spec:
  containers:
  - name: web
    image: `+checkAgnhost+`
    args: [netexec, --http-port=8080]
    readinessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
  - name: live
    image: `+checkBusybox+`
    command: [sh, -c, "touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 3600"]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      periodSeconds: 1
      failureThreshold: 1
`); err != nil {
		return err
	}
	if err := eventually(ctx, func() error {
		ready, err := jsonpath(c, "pod/probes", `{.status.containerStatuses[?(@.name=="web")].ready}`)
		if err == nil && ready != "true" {
			err = fmt.Errorf("web ready %q", ready)
		}
		return err
	}); err != nil {
		return err
	}
	if err := eventually(ctx, func() error {
		n, err := jsonpath(c, "pod/probes", `{.status.containerStatuses[?(@.name=="live")].restartCount}`)
		if err == nil && (n == "" || n == "0") {
			err = fmt.Errorf("live restartCount %q", n)
		}
		return err
	}); err != nil {
		return err
	}
	return kubectlQuiet(c, "delete", "pod", "probes", "--wait=false")
}

func checkInitContainers(ctx context.Context, c *config, _ *state) error {
	if err := apply(c, `apiVersion: v1
kind: Pod
metadata: {name: init}
spec:
  restartPolicy: Never
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
  - {name: one, image: `+checkBusybox+`, command: [sh, -c, "echo one >> /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
  - {name: two, image: `+checkBusybox+`, command: [sh, -c, "echo two >> /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
  containers:
  - {name: main, image: `+checkBusybox+`, command: [sh, -c, "echo main >> /work/order; cat /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
`); err != nil {
		return err
	}
	if err := eventually(ctx, func() error {
		phase, err := jsonpath(c, "pod/init", "{.status.phase}")
		if err == nil && phase != "Succeeded" {
			err = fmt.Errorf("phase %q", phase)
		}
		return err
	}); err != nil {
		return err
	}
	out, err := kubectl(c, "logs", "init", "-c", "main")
	if err != nil {
		return err
	}
	if out != "one\ntwo\nmain\n" {
		return fmt.Errorf("main saw %q, want one, two, main in order", out)
	}
	return kubectlQuiet(c, "delete", "pod", "init", "--wait=false")
}

func checkLimits(ctx context.Context, c *config, _ *state) error {
	// The container reads its own limits from its cgroup (v1 on this host, v2 elsewhere);
	// a second one goes over its memory limit and must be reported OOMKilled.
	if err := apply(c, `apiVersion: v1
kind: Pod
metadata: {name: limits}
spec:
  restartPolicy: Never
  containers:
  - name: limited
    image: `+checkBusybox+`
    command: [sleep, "3600"]
    resources: {limits: {memory: 64Mi, cpu: 250m}}
  - name: hog
    image: `+checkBusybox+`
    command: [sh, -c, "tail /dev/zero"]
    resources: {limits: {memory: 32Mi}}
`); err != nil {
		return err
	}
	if err := eventually(ctx, func() error {
		reason, err := jsonpath(c, "pod/limits", `{.status.containerStatuses[?(@.name=="hog")].state.terminated.reason}`)
		if err == nil && reason != "OOMKilled" {
			err = fmt.Errorf("hog terminated reason %q, want OOMKilled", reason)
		}
		return err
	}); err != nil {
		return err
	}
	out, err := kubectl(c, "exec", "limits", "-c", "limited", "--", "sh", "-c",
		"cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "+
			"cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	if err != nil {
		return err
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != strconv.Itoa(64<<20) || f[1] != "25000" {
		return fmt.Errorf("limits seen in the container %q, want memory 67108864 and cpu quota 25000", out)
	}
	return kubectlQuiet(c, "delete", "pod", "limits", "--wait=false")
}

func checkDeployment(ctx context.Context, c *config, _ *state) error {
	if _, err := kubectl(c, "create", "deployment", "web", "--image="+checkAgnhost, "--replicas=2", "--port=8080", "--", "/agnhost", "netexec", "--http-port=8080"); err != nil {
		return err
	}
	if _, err := kubectl(c, "expose", "deployment", "web", "--port=80", "--target-port=8080"); err != nil {
		return err
	}
	if err := eventually(ctx, func() error {
		n, err := jsonpath(c, "deployment/web", "{.status.availableReplicas}")
		if err == nil && n != "2" {
			err = fmt.Errorf("available replicas %q, want 2", n)
		}
		return err
	}); err != nil {
		return err
	}
	ip, err := jsonpath(c, "service/web", "{.spec.clusterIP}")
	if err != nil {
		return err
	}
	// From a pod, through kube-proxy's rules: both replicas answer behind the ClusterIP.
	if _, err := kubectl(c, "run", "client", "--image="+checkBusybox, "--", "sleep", "3600"); err != nil {
		return err
	}
	if err := waitPodReady(ctx, c, "client"); err != nil {
		return err
	}
	seen := map[string]bool{}
	if err := eventually(ctx, func() error {
		// Debian's busybox 1.35 wget crashes with -T: busybox timeout bounds it instead.
		out, err := kubectl(c, "exec", "client", "--", "timeout", "5", "wget", "-qO-", "http://"+ip+"/hostname")
		if err != nil {
			return err
		}
		seen[strings.TrimSpace(out)] = true
		if len(seen) < 2 {
			return fmt.Errorf("answers from %v, want both replicas", seen)
		}
		return nil
	}); err != nil {
		return err
	}
	if c.dns {
		// The cluster DNS names the Service (busybox's nslookup has its own resolver).
		if err := eventually(ctx, func() error {
			out, err := kubectl(c, "exec", "client", "--", "nslookup", "web.default.svc.cluster.local")
			if err == nil && !strings.Contains(out, ip) {
				err = fmt.Errorf("nslookup web: %q, want %s", out, ip)
			}
			return err
		}); err != nil {
			return err
		}
	}
	return errors.Join(kubectlQuiet(c, "delete", "deployment", "web"), kubectlQuiet(c, "delete", "service", "web"),
		kubectlQuiet(c, "delete", "pod", "client", "--wait=false"))
}

func checkCridRestart(ctx context.Context, c *config, s *state) error {
	if s.RuntimeEndpoint != "" {
		return errors.New("not run: the runtime is not one this command started")
	}
	if _, err := kubectl(c, "run", "survivor", "--image="+checkBusybox, "--", "sh", "-c", "echo up; sleep 3600"); err != nil {
		return err
	}
	if err := waitPodReady(ctx, c, "survivor"); err != nil {
		return err
	}
	idPath := "{.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}"
	before, err := jsonpath(c, "pod/survivor", idPath)
	if err != nil {
		return err
	}
	p, err := s.restart(c, "crid-"+nodeName(1))
	if err != nil {
		return err
	}
	if err := eventually(ctx, func() error {
		if !p.alive() {
			return fmt.Errorf("crid exited after restart:\n%s", tail(p.Log, 10))
		}
		_, err := os.Stat(p.Socket)
		return err
	}); err != nil {
		return err
	}
	// The pod kept running: same container, no restart, still serving exec and logs;
	// and the node still starts new pods.
	if err := eventually(ctx, func() error {
		return kubectlQuiet(c, "exec", "survivor", "--", "true")
	}); err != nil {
		return err
	}
	after, err := jsonpath(c, "pod/survivor", idPath)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("container after crid's restart %q, before %q", after, before)
	}
	if out, err := kubectl(c, "logs", "survivor"); err != nil || out != "up\n" {
		return fmt.Errorf("logs after restart %q, %v", out, err)
	}
	if _, err := kubectl(c, "run", "newcomer", "--image="+checkBusybox, "--", "sleep", "3600"); err != nil {
		return err
	}
	if err := waitPodReady(ctx, c, "newcomer"); err != nil {
		return err
	}
	return kubectlQuiet(c, "delete", "pod", "survivor", "newcomer", "--wait=false")
}
