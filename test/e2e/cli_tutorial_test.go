package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLITutorial replays README's "Using crid like docker", step by step, as a person
// types it: a web server on a port fetched from 127.0.0.1, ps, logs, exec, stats, top,
// port, inspect, stop/start/restart/rm, a bind mount and a tmpfs, the host network, and
// save/load/tag of an image.
func TestCLITutorial(t *testing.T) {
	c := newCLITarget(t, "cli-tutorial")
	web := "web-" + randHex(3)
	c.removeOnCleanup(t, web)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	t.Run("pull", func(t *testing.T) {
		out := c.ok(t, "pull", c.image)
		if !strings.Contains(out, "Pull complete") || !strings.Contains(out, "Image ID: sha256:") {
			t.Errorf("crid pull output:\n%s", out)
		}
		if imgs := c.ok(t, "images"); !strings.Contains(imgs, repoOf(c.image)) {
			t.Errorf("crid images does not list %s:\n%s", c.image, imgs)
		}
	})

	t.Run("run a web server", func(t *testing.T) {
		id := strings.TrimSpace(c.ok(t, "run", "-d", "--name", web, "-p", fmt.Sprintf("127.0.0.1:%d:80", port), c.image,
			"sh", "-c", "echo started; mkdir -p /www && echo hello-from-crid > /www/index.html && exec httpd -f -v -p 80 -h /www"))
		if len(id) != 64 {
			t.Fatalf("crid run -d printed %q, want a 64-hex id", id)
		}
		eventually(t, 30*time.Second, func() error {
			body, err := httpGet(url)
			if err == nil && strings.TrimSpace(body) != "hello-from-crid" {
				err = fmt.Errorf("body %q", body)
			}
			return err
		})
	})

	t.Run("ps", func(t *testing.T) {
		out := c.ok(t, "ps")
		for _, want := range []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
			web, "Up ", fmt.Sprintf("127.0.0.1:%d->80/tcp", port), c.image} {
			if !strings.Contains(out, want) {
				t.Errorf("crid ps lacks %q:\n%s", want, out)
			}
		}
		var row struct{ Names, State, Ports string }
		js := c.ok(t, "ps", "--format", "json", "--filter", "name="+web)
		if err := json.Unmarshal([]byte(js), &row); err != nil || row.Names != web || row.State != "running" {
			t.Errorf("crid ps --format json: %q (%v)", js, err)
		}
		if q := strings.TrimSpace(c.ok(t, "ps", "-q", "--filter", "name="+web)); len(q) != 12 {
			t.Errorf("crid ps -q: %q", q)
		}
		if none := c.ok(t, "ps", "-q", "--filter", "name="+web, "--filter", "status=exited"); none != "" {
			t.Errorf("status=exited filter matched a running container: %q", none)
		}
	})

	t.Run("logs", func(t *testing.T) {
		eventually(t, 10*time.Second, func() error {
			out := c.ok(t, "logs", web)
			if !strings.Contains(out, "started") {
				return fmt.Errorf("crid logs: %q", out)
			}
			return nil
		})
		// httpd -v logs each request on stderr: the last line may be there.
		out, errs, _ := c.run(t, "logs", "-t", "--tail", "1", web)
		ts := out + errs
		fields := strings.Fields(ts)
		if len(fields) < 2 {
			t.Fatalf("crid logs -t --tail 1: %q", ts)
		}
		if _, err := time.Parse(time.RFC3339Nano, fields[0]); err != nil {
			t.Errorf("crid logs -t: %q does not start with a timestamp", ts)
		}
		if later := c.ok(t, "logs", "--since", "2099-01-01T00:00:00Z", web); later != "" {
			t.Errorf("crid logs --since (future): %q", later)
		}
	})

	t.Run("exec", func(t *testing.T) {
		if out := c.ok(t, "exec", web, "cat", "/www/index.html"); strings.TrimSpace(out) != "hello-from-crid" {
			t.Errorf("crid exec cat: %q", out)
		}
		if _, _, code := c.run(t, "exec", web, "sh", "-c", "exit 3"); code != 3 {
			t.Errorf("crid exec exit 3: got exit %d", code)
		}
	})

	t.Run("stats top port inspect", func(t *testing.T) {
		st := c.ok(t, "stats", "--no-stream")
		if !strings.Contains(st, "CPU %") || !strings.Contains(st, web) || !strings.Contains(st, "iB / ") {
			t.Errorf("crid stats --no-stream:\n%s", st)
		}
		if top := c.ok(t, "top", web); !strings.Contains(top, "httpd -f -v -p 80") {
			t.Errorf("crid top:\n%s", top)
		}
		if p := c.ok(t, "port", web); strings.TrimSpace(p) != fmt.Sprintf("80/tcp -> 127.0.0.1:%d", port) {
			t.Errorf("crid port: %q", p)
		}
		var v []struct {
			Name  string
			State struct{ Running bool }
		}
		if err := json.Unmarshal([]byte(c.ok(t, "inspect", web)), &v); err != nil || len(v) != 1 || !v[0].State.Running || v[0].Name != "/"+web {
			t.Errorf("crid inspect: %+v (%v)", v, err)
		}
	})

	t.Run("stop start restart rm", func(t *testing.T) {
		c.ok(t, "stop", web)
		if out := c.ok(t, "ps", "-a", "--filter", "name="+web); !strings.Contains(out, "Exited (") {
			t.Errorf("after stop, crid ps -a:\n%s", out)
		}
		if out := c.ok(t, "ps", "-q", "--filter", "name="+web); out != "" {
			t.Errorf("a stopped container in crid ps (no -a): %q", out)
		}
		c.ok(t, "start", web)
		eventually(t, 30*time.Second, func() error { _, err := httpGet(url); return err })
		id := c.ok(t, "ps", "-q", "--filter", "name="+web)
		c.ok(t, "restart", web)
		eventually(t, 30*time.Second, func() error { _, err := httpGet(url); return err })
		if again := c.ok(t, "ps", "-q", "--filter", "name="+web); again != id || id == "" {
			t.Errorf("the ID changed over restart: %q, then %q", id, again)
		}
		// Three runs (run, start, restart): the logs hold each, as docker's do.
		if n := strings.Count(c.ok(t, "logs", web), "started"); n != 3 {
			t.Errorf("crid logs after start and restart holds %d runs' output, want 3", n)
		}
		c.fails(t, "container is running", "rm", web)
		c.ok(t, "rm", "-f", web)
		if out := c.ok(t, "ps", "-a", "-q", "--filter", "name="+web); out != "" {
			t.Errorf("after rm -f, crid ps -a: %q", out)
		}
		if _, err := httpGet(url); err == nil {
			t.Errorf("%s still answers after rm -f", url)
		}
		if _, err := os.Stat(filepath.Join("/var/log/crid-cli", web)); err == nil {
			t.Errorf("the container's log dir is left after rm -f")
		}
	})

	t.Run("bind mount and tmpfs", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "greeting"), []byte("hi from the host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := c.ok(t, "run", "--rm", "-v", dir+":/data:ro", c.image, "cat", "/data/greeting"); out != "hi from the host\n" {
			t.Errorf("bind mount: %q", out)
		}
		c.ok(t, "run", "--rm", "-v", dir+":/data", c.image, "sh", "-c", "echo written > /data/back")
		if b, _ := os.ReadFile(filepath.Join(dir, "back")); string(b) != "written\n" {
			t.Errorf("rw bind mount: host sees %q", b)
		}
		if _, _, code := c.run(t, "run", "--rm", "-v", dir+":/data:ro", c.image, "sh", "-c", "echo x > /data/nope"); code == 0 {
			t.Errorf("write to a :ro bind mount succeeded")
		}
		out := c.ok(t, "run", "--rm", "--tmpfs", "/scratch:size=8m", c.image, "sh", "-c", "grep ' /scratch ' /proc/mounts; echo x > /scratch/f && cat /scratch/f")
		if !strings.Contains(out, "tmpfs /scratch tmpfs") || !strings.Contains(out, "size=8192k") || !strings.HasSuffix(out, "x\n") {
			t.Errorf("tmpfs: %q", out)
		}
		if left, _ := filepath.Glob("/run/crid-cli/*"); len(left) > 0 {
			t.Errorf("tmpfs dirs left after --rm: %v", left)
		}
	})

	t.Run("host network", func(t *testing.T) {
		host, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		out := c.ok(t, "run", "--rm", "--network", "host", c.image, "readlink", "/proc/self/ns/net")
		if strings.TrimSpace(out) != host {
			t.Errorf("--network host: container's netns %q, host's %q", out, host)
		}
		bridge := c.ok(t, "run", "--rm", c.image, "readlink", "/proc/self/ns/net")
		if strings.TrimSpace(bridge) == host {
			t.Errorf("--network bridge ran in the host's netns")
		}
	})

	t.Run("none network", func(t *testing.T) {
		if c.d == nil {
			// Another runtime gives the pod its network: crid run must refuse, leaving nothing.
			before := c.managedPods(t)
			c.fails(t, "does not support crid's crid.dev/network=none", "run", "--rm", "--network", "none", c.image, "true")
			if after := c.managedPods(t); after != before {
				t.Errorf("a refused --network none left a pod: %q", after)
			}
			return
		}
		out := c.ok(t, "run", "--rm", "--network", "none", c.image, "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags")
		if ifaces := strings.Fields(out); len(ifaces) < 1 || ifaces[0] != "lo" || len(ifaces) != 3 || ifaces[2] != "0x9" {
			t.Errorf("--network none: %q, want only lo, up (flags 0x9)", out)
		}
	})

	t.Run("exit code and streams", func(t *testing.T) {
		out, errs, code := c.run(t, "run", "--rm", c.image, "sh", "-c", "echo out; echo err >&2; exit 7")
		if code != 7 || out != "out\n" || errs != "err\n" {
			t.Errorf("crid run: exit %d stdout %q stderr %q, want 7 \"out\\n\" \"err\\n\"", code, out, errs)
		}
	})

	t.Run("save load tag", func(t *testing.T) {
		c.needCrid(t)
		arc := filepath.Join(t.TempDir(), "img.tar")
		c.ok(t, append([]string{"save", "-o", arc, c.image}, c.storeFlags()...)...)
		if out, errs, code := c.run(t, "rmi", c.image); code != 0 || !strings.Contains(out, "Deleted: sha256:") {
			t.Fatalf("crid rmi: exit %d %q %q\n%s", code, out, errs, c.ok(t, "ps", "-a", "-A"))
		}
		if imgs := c.ok(t, "images"); strings.Contains(imgs, repoOf(c.image)) {
			t.Fatalf("image still listed after rmi:\n%s", imgs)
		}
		if out := c.ok(t, append([]string{"load", "-i", arc}, c.storeFlags()...)...); !strings.Contains(out, "Loaded image: "+c.image) {
			t.Errorf("crid load: %q", out)
		}
		tagged := "crid.local/tutorial/mine:v1"
		c.ok(t, append([]string{"tag", c.image, tagged}, c.storeFlags()...)...)
		imgs := c.ok(t, "images")
		if !strings.Contains(imgs, "crid.local/tutorial/mine") || !strings.Contains(imgs, repoOf(c.image)) {
			t.Errorf("crid images after load and tag:\n%s", imgs)
		}
		if out := c.ok(t, "run", "--rm", tagged, "echo", "runs-from-tag"); out != "runs-from-tag\n" {
			t.Errorf("run from the new tag: %q", out)
		}
		c.ok(t, "rmi", tagged)
	})
}

// repoOf is the repository part of an image reference (what `crid images` shows).
func repoOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// TestCLIErrors: the mistakes people make each get one clear line, a non-zero exit, and
// leave no pod behind.
func TestCLIErrors(t *testing.T) {
	c := newCLITarget(t, "cli-errors")
	name := "dup-" + randHex(3)
	c.removeOnCleanup(t, name)
	before := c.managedPods(t)

	c.fails(t, "unable to find image", "run", "--rm", repoOf(c.image)+"-no-such-image:1")
	c.fails(t, "bind source path does not exist", "run", "--rm", "-v", "/nonexistent/crid-e2e:/data", c.image, "true")
	c.fails(t, "named volumes are not supported", "run", "--rm", "-v", "data:/data", c.image, "true")
	c.fails(t, "invalid containerPort", "run", "-d", "-p", "8080:http", c.image, "true")
	c.fails(t, "no such container", "logs", "no-such-container-"+randHex(3))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	c.fails(t, "port is already allocated", "run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", busy), c.image, "sleep", "60")

	c.ok(t, "run", "-d", "--name", name, c.image, "sleep", "600")
	c.fails(t, "is already in use", "run", "-d", "--name", name, c.image, "sleep", "600")
	c.ok(t, "rm", "-f", name)

	if after := c.managedPods(t); after != before {
		t.Errorf("pods left behind by failed runs:\nbefore %q\nafter  %q", before, after)
	}
}
