package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// httpdPod runs a pod whose container serves page on port 8080 with busybox httpd.
func (d *Daemon) httpdPod(t *testing.T, name, page string, ports []*runtimeapi.PortMapping) (podID, ctrID string) {
	t.Helper()
	pod := d.podConfig(t, name)
	pod.PortMappings = ports
	podID = d.runPod(t, pod)
	ctrID = d.runContainer(t, podID, pod, containerConfig("httpd", testImage(t, d), "sh", "-c",
		"mkdir -p /www && echo "+page+" > /www/index.html && exec httpd -f -p 8080 -h /www"))
	waitListening(t, d, podID, ctrID, 8080)
	return podID, ctrID
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}

// TestPodToPod: a pod reaches another by pod IP, seen from both ends: the client pod's
// container (its own process, in its own network namespace) gets the page, and the server
// logs the client pod's IP as the peer. The host reaches the pods too.
func TestPodToPod(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	podA := d.podConfig(t, "net-a")
	podAID := d.runPod(t, podA)
	srv := containerConfig("httpd", img, "sh", "-c", "mkdir -p /www && echo from-a > /www/index.html && exec httpd -f -v -p 8080 -h /www")
	srvID := d.runContainer(t, podAID, podA, srv)
	waitListening(t, d, podAID, srvID, 8080)
	ipA := d.podIP(t, podAID)

	podB := d.podConfig(t, "net-b")
	podBID := d.runPod(t, podB)
	ipB := d.podIP(t, podBID)
	if ipA == ipB {
		t.Fatalf("both pods got IP %s", ipA)
	}
	// nc, not wget: Debian's dynamic busybox wget needs NSS modules the image lacks.
	cli := containerConfig("client", img, "sh", "-c",
		"until printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 "+ipA+" 8080 > /tmp/page; do sleep 0.2; done; echo page:$(tail -n 1 /tmp/page); ip -4 addr show eth0; exec sleep 3600")
	d.runContainer(t, podBID, podB, cli)
	if err := waitFor(20*time.Second, func() error {
		out, _ := logMessages(t, readLog(t, podB, cli))
		if !containsString(out, "page:from-a") {
			return fmt.Errorf("client output %q", out)
		}
		if !strings.Contains(strings.Join(out, "\n"), "inet "+ipB+"/") {
			return fmt.Errorf("client's eth0 lacks %s: %q", ipB, out)
		}
		return nil
	}); err != nil {
		t.Errorf("pod B -> pod A %s:8080: %v", ipA, err)
	}
	if err := waitFor(10*time.Second, func() error {
		_, errs := logMessages(t, readLog(t, podA, srv))
		if !strings.Contains(strings.Join(errs, "\n"), ipB+"]") {
			return fmt.Errorf("server log %q names no request from %s", errs, ipB)
		}
		return nil
	}); err != nil {
		t.Errorf("pod A's view: %v", err)
	}
	if err := waitFor(10*time.Second, func() error {
		body, err := httpGet("http://" + ipA + ":8080/")
		if err == nil && strings.TrimSpace(body) != "from-a" {
			err = fmt.Errorf("body %q", body)
		}
		return err
	}); err != nil {
		t.Errorf("host -> pod A: %v", err)
	}
}

// freePort returns a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestHostPort: a pod's port mapping makes its server reachable at 127.0.0.1:hostPort, and
// the mapping disappears with the pod.
func TestHostPort(t *testing.T) {
	d := sharedDaemon(t)
	hp := freePort(t)
	podID, _ := d.httpdPod(t, "hostport", "via-hostport", []*runtimeapi.PortMapping{
		{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: int32(hp)},
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", hp)
	if err := waitFor(10*time.Second, func() error {
		body, err := httpGet(url)
		if err == nil && strings.TrimSpace(body) != "via-hostport" {
			err = fmt.Errorf("body %q", body)
		}
		return err
	}); err != nil {
		t.Fatalf("hostPort %d: %v", hp, err)
	}
	d.removePod(t, podID)
	if _, err := httpGet(url); err == nil {
		t.Errorf("hostPort %d still answers after the pod was removed", hp)
	}
}

// TestHostNetwork: a pod in the host's network namespace sees the host's interfaces.
func TestHostNetwork(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "hostnet")
	pod.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	podID := d.runPod(t, pod)
	id := d.runContainer(t, podID, pod, containerConfig("sleep", testImage(t, d), "sleep", "3600"))

	// Physical NICs only: bridges and veths of other tests on this machine come and go.
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range ents {
		if _, err := os.Stat("/sys/class/net/" + e.Name() + "/device"); err == nil {
			want = append(want, e.Name())
		}
	}
	if len(want) == 0 {
		t.Fatal("host has no physical interface to look for")
	}
	dev := d.mustExec(t, id, "cat", "/proc/net/dev")
	for _, name := range want {
		if !strings.Contains(dev, name+":") {
			t.Errorf("host interface %s not visible in the hostNetwork pod:\n%s", name, dev)
		}
	}
}

// TestPodLocalhost: containers of one pod share its network namespace: a client container
// reaches the server container at 127.0.0.1 (from its own process).
func TestPodLocalhost(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "localhost")
	podID := d.runPod(t, pod)
	srvID := d.runContainer(t, podID, pod, containerConfig("httpd", img, "sh", "-c",
		"mkdir -p /www && echo same-pod > /www/index.html && exec httpd -f -p 8080 -h /www"))
	waitListening(t, d, podID, srvID, 8080)
	cli := containerConfig("client", img, "sh", "-c",
		"until printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 8080 > /tmp/page; do sleep 0.2; done; echo page:$(tail -n 1 /tmp/page)")
	id := d.runContainer(t, podID, pod, cli)
	d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if out, _ := logMessages(t, readLog(t, pod, cli)); !containsString(out, "page:same-pod") {
		t.Errorf("client via 127.0.0.1: %q, want page:same-pod", out)
	}
}
