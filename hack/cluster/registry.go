package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/crid-dev/crid/hack/testimages"
)

// serveRegistry serves, on listen, every image the cluster and the upstream e2e specs use,
// built here (nothing comes from the internet), laid out as a mirror of registry.k8s.io and
// docker.io (`<registry>/<repo>`, hosts.toml override_path); it writes its address to
// addrFile once all are pushed, and serves until ctx ends.
func serveRegistry(ctx context.Context, c *config, listen, addrFile string) error {
	images, err := clusterImages(c.k8sBin)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	host := ln.Addr().String()
	for ref, img := range images {
		r, err := name.ParseReference(host+"/"+ref, name.Insecure)
		if err != nil {
			return err
		}
		if err := remote.Write(r, img); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
	}
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(host), 0o644); err != nil { //nolint:gosec // the path is up's own flag
			return err
		}
	}
	fmt.Printf("registry: %d images on %s\n", len(images), host)
	select {
	case <-ctx.Done():
		return srv.Close()
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// The e2e image versions of k8s.io/kubernetes/test/utils/image/manifest.go at the pinned
// version; an image the specs use and that is not here fails its pull (ErrImagePull), which
// names it.
const (
	agnhostVersion     = "2.63.0"
	agnhostPrevVersion = "2.55"
	busyboxVersion     = "1.37.0-1"
	pauseVersion       = "3.10.2"
)

// clusterImages builds the images by reference (without the registry host).
func clusterImages(k8sBin string) (map[string]v1.Image, error) {
	agnhostBin, err := os.ReadFile(filepath.Join(k8sBin, "agnhost"))
	if err != nil {
		return nil, fmt.Errorf("agnhost (hack/cluster/build.sh builds it): %w", err)
	}
	extras := filepath.Join(filepath.Dir(k8sBin), "images") // build.sh copies the images' data files there
	readExtra := func(rel string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(extras, rel))
		if err != nil {
			return nil, fmt.Errorf("image data (hack/cluster/build.sh copies it): %w", err)
		}
		return b, nil
	}
	corednsBin, err := os.ReadFile(filepath.Join(k8sBin, "coredns"))
	if err != nil {
		return nil, fmt.Errorf("coredns (hack/cluster/build.sh builds it): %w", err)
	}
	digBin, err := os.ReadFile(filepath.Join(k8sBin, "dig"))
	if err != nil {
		return nil, fmt.Errorf("dig (hack/cluster/build.sh builds it): %w", err)
	}
	busybox, err := testimages.BusyboxFiles(testimages.StaticBusybox)
	if err != nil {
		return nil, err
	}
	// agnhost's image: its binary on a busybox base (the specs run sh, wget, nc in it), the
	// user and group its Dockerfile adds, the porter's certificate, /uploads, dig.
	agnhostFiles := append([]testimages.File{}, busybox...)
	for i := range agnhostFiles {
		switch agnhostFiles[i].Name {
		case "etc/passwd":
			agnhostFiles[i].Body = append(append([]byte{}, agnhostFiles[i].Body...), "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n"...)
		case "etc/group":
			agnhostFiles[i].Body = append(append([]byte{}, agnhostFiles[i].Body...), "user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n"...)
		}
	}
	crt, err := readExtra("agnhost/localhost.crt")
	if err != nil {
		return nil, err
	}
	key, err := readExtra("agnhost/localhost.key")
	if err != nil {
		return nil, err
	}
	agnhostFiles = append(agnhostFiles,
		testimages.File{Name: "agnhost", Mode: 0o755, Body: agnhostBin},
		testimages.File{Name: "agnhost-2", Type: '2', Linkname: "agnhost"},
		testimages.File{Name: "uploads/", Type: '5'},
		testimages.File{Name: "localhost.crt", Body: crt},
		testimages.File{Name: "localhost.key", Body: key},
		// The DNS specs run dig in agnhost (Alpine's bind-tools upstream; hack/cluster/coredns/dig here).
		testimages.File{Name: "usr/bin/dig", Mode: 0o755, Body: digBin},
	)
	webData := func(kind string) ([]testimages.File, error) {
		fs := append([]testimages.File{}, agnhostFiles...)
		for _, f := range []string{"data.json", kind + ".jpg"} {
			b, err := readExtra(kind + "/" + f)
			if err != nil {
				return nil, err
			}
			fs = append(fs, testimages.File{Name: f, Body: b})
		}
		return fs, nil
	}
	kitten, err := webData("kitten")
	if err != nil {
		return nil, err
	}
	nautilus, err := webData("nautilus")
	if err != nil {
		return nil, err
	}
	nginx := append(append([]testimages.File{}, busybox...),
		testimages.File{Name: "usr/share/", Type: '5'},
		testimages.File{Name: "usr/share/nginx/", Type: '5'},
		testimages.File{Name: "usr/share/nginx/html/", Type: '5'},
		testimages.File{Name: "usr/share/nginx/html/index.html", Body: []byte("<html><body>Welcome to nginx!</body></html>\n")},
	)
	agnhostCfg := v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}}
	// busybox httpd in nginx's place: the specs use the image as "a web server on 80".
	nginxCfg := v1.Config{Cmd: []string{"httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}}
	webCfg := v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"test-webserver"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}}
	shCfg := v1.Config{Cmd: []string{"sh"}}
	specs := []struct {
		refs  []string
		files []testimages.File
		cfg   v1.Config
	}{
		{[]string{"registry.k8s.io/e2e-test-images/busybox:" + busyboxVersion, "docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"}, busybox, shCfg},
		{[]string{"registry.k8s.io/e2e-test-images/agnhost:" + agnhostVersion, "registry.k8s.io/e2e-test-images/agnhost:" + agnhostPrevVersion}, agnhostFiles, agnhostCfg},
		// pause: crid needs none, but specs run it as a plain container.
		{[]string{"registry.k8s.io/pause:" + pauseVersion, "registry.k8s.io/pause:3.10"}, agnhostFiles, v1.Config{Entrypoint: []string{"/agnhost", "pause"}}},
		{[]string{"registry.k8s.io/e2e-test-images/nginx:1.15-4", "registry.k8s.io/e2e-test-images/nginx:1.27-0", "docker.io/library/nginx:latest"}, nginx, nginxCfg},
		{[]string{"registry.k8s.io/e2e-test-images/kitten:1.8"}, kitten, webCfg},
		{[]string{"registry.k8s.io/e2e-test-images/nautilus:1.8"}, nautilus, webCfg},
		{[]string{corednsImage}, []testimages.File{{Name: "coredns", Mode: 0o755, Body: corednsBin}}, v1.Config{Entrypoint: []string{"/coredns"}}},
		{[]string{"registry.k8s.io/e2e-test-images/nonroot:1.5"}, busybox, v1.Config{Cmd: []string{"sh"}, User: "1234"}},
	}
	out := map[string]v1.Image{}
	for _, s := range specs {
		l, err := testimages.Layer(s.files, testimages.Gzip)
		if err != nil {
			return nil, err
		}
		if s.cfg.Env == nil {
			s.cfg.Env = testimages.DefaultEnv
		}
		img, err := testimages.Image(runtime.GOARCH, s.cfg, l)
		if err != nil {
			return nil, err
		}
		for _, r := range s.refs {
			out[r] = img
		}
	}
	return out, nil
}
