package images

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeHosts(t *testing.T, dir, host, body string) {
	t.Helper()
	d := filepath.Join(dir, host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostsKitLayout(t *testing.T) {
	kit := "/work/shared/critest-kit/hosts.d"
	if _, err := os.Stat(kit); err != nil {
		t.Skip("critest kit not present")
	}
	h := newHostsConfig(kit)
	for _, tc := range []struct{ host, want string }{
		{"docker.io", "http://127.0.0.1:5000/v2/docker.io"},
		{"registry.k8s.io", "http://127.0.0.1:5000/v2/registry.k8s.io"},
		{"quay.io", "http://127.0.0.1:5000/v2/_unmirrored"},
		{"127.0.0.1:5001", "http://127.0.0.1:5001"},
	} {
		eps, err := h.endpoints(tc.host, capPull|capResolve)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		if len(eps) != 1 || eps[0].String() != tc.want {
			t.Errorf("%s: got %v, want [%s]", tc.host, eps, tc.want)
		}
	}
}

func TestHostsOrderAndSemantics(t *testing.T) {
	dir := t.TempDir()
	writeHosts(t, dir, "example.com", `
server = "https://upstream.example.com"
capabilities = ["pull", "resolve"]

[host."http://mirror-b:5000"]
  capabilities = ["pull"]

[host."https://mirror-a/prefix"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  override_path = true
  [host."https://mirror-a/prefix".header]
    x-custom = ["a", "b"]
`)
	writeHosts(t, dir, "reg_5000_", `server = "http://windows-style"`)
	h := newHostsConfig(dir)
	eps, err := h.endpoints("example.com", capPull)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range eps {
		got = append(got, e.String())
	}
	want := []string{"http://mirror-b:5000", "https://mirror-a/prefix", "https://upstream.example.com"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("order: got %v want %v", got, want)
	}
	if !eps[1].SkipVerify || !eps[1].OverridePath || len(eps[1].Header.Values("X-Custom")) != 2 {
		t.Errorf("mirror-a settings lost: %+v", eps[1])
	}
	if eps[0].apiPrefix() != "/v2" || eps[1].apiPrefix() != "/prefix" {
		t.Errorf("api prefixes: %q %q", eps[0].apiPrefix(), eps[1].apiPrefix())
	}
	resolvers, _ := h.endpoints("example.com", capResolve)
	if len(resolvers) != 2 {
		t.Errorf("resolve-capable: %v", resolvers)
	}
	// No config: the registry itself, docker.io at registry-1, loopback over http.
	if eps, _ := h.endpoints("docker.io", capPull); eps[0].String() != "https://registry-1.docker.io" {
		t.Errorf("docker.io default: %v", eps)
	}
	if eps, _ := h.endpoints("localhost:5000", capPull); eps[0].String() != "http://localhost:5000" {
		t.Errorf("localhost default: %v", eps)
	}
	if eps, _ := h.endpoints("reg:5000", capPull); eps[0].String() != "http://windows-style" {
		t.Errorf("host_port_ dir: %v", eps)
	}
}

func TestRewriterPaths(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path+"|"+r.Header.Get("X-A"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		server   string
		override bool
		want     []string
	}{
		{srv.URL + "/v2/docker.io", true, []string{"/v2/|x", "/v2/docker.io/library/busybox/manifests/latest|x", "/v2/docker.io/library/busybox/blobs/redirected|x"}},
		{srv.URL + "/mirror", false, []string{"/mirror/v2/|x", "/mirror/v2/library/busybox/manifests/latest|x", "/mirror/v2/library/busybox/blobs/redirected|x"}},
	} {
		paths = nil
		e, err := newEndpoint(tc.server, "", hostsEntry{OverridePath: tc.override, Header: map[string]any{"x-a": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		rt, err := newHostsConfig("").transport(e)
		if err != nil {
			t.Fatal(err)
		}
		c := http.Client{Transport: rt}
		// The third is a same-host redirect already in physical form: left alone.
		for _, p := range []string{"/v2/", "/v2/library/busybox/manifests/latest", e.apiPrefix() + "/library/busybox/blobs/redirected"} {
			resp, err := c.Get("http://" + e.URL.Host + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		if !slices.Equal(paths, tc.want) {
			t.Errorf("%s: got %v want %v", tc.server, paths, tc.want)
		}
	}
}
