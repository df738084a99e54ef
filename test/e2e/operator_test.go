package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestStreamImages: StreamImages returns every image exactly once, as ListImages does, and
// honours the filter.
func TestStreamImages(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.image(t, "streamimages")
	d.pull(t, img.Tag, nil)
	collect := func(filter *runtimeapi.ImageFilter) []string {
		t.Helper()
		stream, err := d.IS.StreamImages(ctxT(t, criTimeout), &runtimeapi.StreamImagesRequest{Filter: filter})
		if err != nil {
			t.Fatalf("StreamImages: %v", err)
		}
		var ids []string
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("StreamImages recv: %v", err)
			}
			if len(resp.Images) == 0 {
				t.Errorf("a StreamImages response with no image")
			}
			for _, i := range resp.Images {
				ids = append(ids, i.Id)
			}
		}
		return ids
	}
	list, err := d.IS.ListImages(ctxT(t, criTimeout), &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, i := range list.Images {
		want = append(want, i.Id)
	}
	got := collect(nil)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || !slices.Contains(got, img.ConfigDigest) {
		t.Errorf("StreamImages %v, ListImages %v (want %s in both)", got, want, img.ConfigDigest)
	}
	if got := collect(&runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: img.Tag}}); !slices.Equal(got, []string{img.ConfigDigest}) {
		t.Errorf("StreamImages filtered by %s: %v", img.Tag, got)
	}
}

// TestHealthAndVerboseInfo: the gRPC health service answers SERVING on the CRI socket, and
// a verbose Status carries the config, versions and feature probes as JSON.
func TestHealthAndVerboseInfo(t *testing.T) {
	d := sharedDaemon(t)
	hc := healthpb.NewHealthClient(d.conn)
	for _, svc := range []string{"", "runtime.v1.RuntimeService", "runtime.v1.ImageService"} {
		resp, err := hc.Check(ctxT(t, criTimeout), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, resp.GetStatus(), err)
		}
	}
	st, err := d.RT.Status(ctxT(t, criTimeout), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(st.Info["config"]), &cfg); err != nil || cfg["root"] != d.Root || cfg["state"] != d.State {
		t.Errorf("info config: %v %v", cfg, err)
	}
	var ver map[string]string
	if err := json.Unmarshal([]byte(st.Info["version"]), &ver); err != nil || ver["criApi"] != "v1" || !strings.HasPrefix(ver["go"], "go") {
		t.Errorf("info version: %q %v", st.Info["version"], err)
	}
	var feat map[string]any
	if err := json.Unmarshal([]byte(st.Info["features"]), &feat); err != nil || feat["kernel"] == "" {
		t.Errorf("info features: %q %v", st.Info["features"], err)
	}
}

// TestReloadOnSIGHUP: SIGHUP applies a new drop-in (pinned_images) without a restart, a bad
// drop-in is refused with the running config kept, and the daemon never stops.
func TestReloadOnSIGHUP(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	img := reg.image(t, "reloadpin")
	id := d.pull(t, img.Tag, nil)
	dropins := filepath.Join(d.Dir, "crid.d")
	if err := os.MkdirAll(dropins, 0o700); err != nil {
		t.Fatal(err)
	}
	pid := d.Pid()
	hup := func(step string) {
		t.Helper()
		off := d.logSize()
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if err := waitFor(10*time.Second, func() error {
			if strings.Contains(d.logTail(off, 1<<20), "reload") {
				return nil
			}
			return errString("no reload logged")
		}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if _, err := d.RT.Version(ctxT(t, criTimeout), &runtimeapi.VersionRequest{}); err != nil || d.Pid() != pid {
			t.Fatalf("%s: daemon gone after SIGHUP: %v", step, err)
		}
	}
	pinned := func() bool { return d.imageStatus(t, id, false).Image.GetPinned() }

	pin := filepath.Join(dropins, "10-pins.toml")
	if err := os.WriteFile(pin, []byte("pinned_images = ["+`"`+img.Repo+`:*"`+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup("pin")
	if !pinned() {
		t.Fatal("image not pinned after the reload")
	}
	_, err := d.IS.RemoveImage(ctxT(t, criTimeout), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: id}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), img.Repo+":*") {
		t.Fatalf("RemoveImage of a pinned image: %v, want FailedPrecondition naming the pin", err)
	}

	bad := filepath.Join(dropins, "20-bad.toml")
	if err := os.WriteFile(bad, []byte("pinned_images = []\nno_such_key = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := d.logSize()
	hup("bad file")
	if log := d.logTail(off, 1<<20); !strings.Contains(log, "reload refused") || !strings.Contains(log, "20-bad.toml") {
		t.Errorf("refusal not logged with the file:\n%s", log)
	}
	if !pinned() {
		t.Fatal("a refused reload changed the running config")
	}

	os.Remove(bad)
	os.Remove(pin)
	hup("unpin")
	if pinned() {
		t.Fatal("still pinned after the pin was dropped")
	}
	if _, err := d.IS.RemoveImage(ctxT(t, criTimeout), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: id}}); err != nil {
		t.Fatalf("RemoveImage after unpinning: %v", err)
	}
}

// TestCheckCommand: `crid check --json` with a running daemon's flags runs the executor's
// real kernel probe, finds nothing missing on this host, and sees the daemon running.
func TestCheckCommand(t *testing.T) {
	d := sharedDaemon(t)
	out, err := exec.Command(filepath.Join(binDir, "crid"), append([]string{"check", "--json"}, d.args()...)...).Output()
	if err != nil {
		t.Fatalf("crid check: %v\n%s", err, out)
	}
	var findings []struct{ Check, Status, Detail, Fix string }
	if err := json.Unmarshal(out, &findings); err != nil {
		t.Fatalf("crid check --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, f := range findings {
		got[f.Check] = f.Status + " " + f.Detail
		if f.Status == "FAIL" {
			t.Errorf("FAIL on this host: %+v", f)
		}
	}
	for check, want := range map[string]string{
		"executor kernel probe": "OK kernel", "crid": "OK running: " + d.Sock, "CNI": "OK network config " + d.CNIConf,
		"crid-monitor": "OK " + binDir, "overlayfs": "OK",
	} {
		if !strings.HasPrefix(got[check], want) {
			t.Errorf("%s: %q, want it to start with %q", check, got[check], want)
		}
	}
}

// TestDefaultNetworkYieldsToClusterCNI: a crid started on an empty CNI dir writes its
// default network (sorting after cluster files, bridge crid0); once a cluster's config
// appears, crid uses that one and removes its own.
func TestDefaultNetworkYieldsToClusterCNI(t *testing.T) {
	netd := filepath.Join(t.TempDir(), "net.d")
	// A kubelet of this host in cluster mode (another tool's node on a shared machine)
	// would keep crid from writing its default: that choice is cni's unit tests'
	// (TestDefaultNetworkNotInClusterMode), this test's is what happens to the file.
	d := startDaemon(t, daemonOptions{
		extraFlags: []string{"--cni-conf-dir", netd},
		config:     "cni_default_network_in_cluster = true\n",
	})
	ours := filepath.Join(netd, "zz-crid-default.conflist")
	b, err := os.ReadFile(ours)
	if err != nil || !strings.Contains(string(b), `"bridge": "crid0"`) {
		t.Fatalf("default network not written on an empty dir: %v\n%s", err, b)
	}
	network := func() map[string]any {
		st, err := d.RT.Status(ctxT(t, criTimeout), &runtimeapi.StatusRequest{Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		var n map[string]any
		if err := json.Unmarshal([]byte(st.Info["network"]), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := network(); n["ready"] != true {
		t.Fatalf("network not ready on crid's default: %v", n)
	}
	// The cluster's CNI installs a config whose plugin is not installed yet (as flannel's
	// DaemonSet does before its binary lands): crid must not stay on its own network.
	cluster := `{"cniVersion": "0.4.0", "name": "cbr0", "plugins": [{"type": "flannel-e2e-missing"}]}`
	if err := os.WriteFile(filepath.Join(netd, "10-flannel.conflist"), []byte(cluster), 0o644); err != nil {
		t.Fatal(err)
	}
	n := network()
	if n["ready"] != false || !strings.Contains(n["reason"].(string), "cbr0") {
		t.Errorf("after the cluster config appeared: %v, want not ready on cbr0", n)
	}
	if _, err := os.Stat(ours); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("crid's default network config still there: %v", err)
	}
}
