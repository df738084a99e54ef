package main

import (
	"archive/tar"
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
	"slices"
	"strings"
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
	images, err := clusterImages(c.k8sBin, c.cridBin)
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

// osRelease is the agnhost-based images' /etc/os-release. Upstream's agnhost is Alpine
// Linux, and the ImageVolume spec reads kitten's os-release for "Alpine Linux" as a mark of
// the image's own files; this one says what the image is and what it stands in for.
const osRelease = `NAME="crid e2e test image"
ID=crid-e2e
PRETTY_NAME="crid e2e test image (Debian busybox and Go stand-ins) built in place of upstream's Alpine Linux base"
`

// nsswitch is Debian's lookup order for the images with glibc programs (glibc without the
// file asks DNS before /etc/hosts).
const nsswitch = "passwd: files\ngroup: files\nhosts: files dns\n"

// withTools replaces busybox's applets named in tools by e2etools (hack/cluster/e2etools:
// an OpenBSD-style nc, curl, and a wget whose -T works), hard links to bin/e2etools.
func withTools(files []testimages.File, e2etools []byte, tools ...string) []testimages.File {
	out := make([]testimages.File, 0, len(files)+len(tools)+1)
	for _, f := range files {
		if name, ok := strings.CutPrefix(f.Name, "bin/"); ok && slices.Contains(tools, name) {
			continue
		}
		out = append(out, f)
	}
	out = append(out, testimages.File{Name: "bin/e2etools", Mode: 0o755, Body: e2etools})
	for _, t := range tools {
		out = append(out, testimages.File{Name: "bin/" + t, Type: tar.TypeLink, Linkname: "bin/e2etools"})
	}
	return out
}

// merge appends to files those of more whose names files has not.
func merge(files, more []testimages.File) []testimages.File {
	have := map[string]bool{}
	for _, f := range files {
		have[strings.TrimSuffix(f.Name, "/")] = true
	}
	for _, f := range more {
		if !have[strings.TrimSuffix(f.Name, "/")] {
			files = append(files, f)
		}
	}
	return files
}

// clusterImages builds the images by reference (without the registry host).
func clusterImages(k8sBin, cridBin string) (map[string]v1.Image, error) {
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
	e2etools, err := os.ReadFile(filepath.Join(cridBin, "e2etools"))
	if err != nil {
		return nil, fmt.Errorf("e2etools (make builds it beside bin/cluster): %w", err)
	}
	// Debian's dynamic busybox (with the host's glibc), not busybox-static: the static
	// one's shell runs its own applets before looking at PATH, so its nc and wget would
	// shadow the stand-ins below.
	plainBusybox, err := testimages.BusyboxFiles(testimages.DynamicBusybox)
	if err != nil {
		return nil, err
	}
	// Every busybox-based image: Debian busybox 1.35's wget segfaults on -T, which specs pass.
	busybox := withTools(plainBusybox, e2etools, "wget")
	// agnhost's image: its binary on a busybox base with the tools upstream's Alpine base
	// carries (the specs run sh, nc, curl, wget, getent in it; getent is the host's, on the
	// glibc busybox brings), the user and group its Dockerfile adds, the porter's
	// certificate, /uploads, dig.
	getent, err := testimages.HostFiles("/usr/bin/getent")
	if err != nil {
		return nil, err
	}
	agnhostFiles := merge(withTools(plainBusybox, e2etools, "wget", "nc", "curl"), getent)
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
		testimages.File{Name: "etc/os-release", Body: []byte(osRelease)},
		testimages.File{Name: "etc/nsswitch.conf", Body: []byte(nsswitch)},
	)
	// nonewprivs: its nnp (here e2etools') setuid root, so that it runs as root unless the
	// container has no_new_privs.
	nonewprivs := append(append([]testimages.File{}, busybox...),
		testimages.File{Name: "usr/local/", Type: tar.TypeDir},
		testimages.File{Name: "usr/local/bin/", Type: tar.TypeDir},
		testimages.File{Name: "usr/local/bin/nnp", Mode: 0o4755, Body: e2etools},
	)
	// glibc-dns-testing (Debian bookworm-slim with dnsutils upstream): the DNS specs' "jessie"
	// prober, there to resolve through glibc as agnhost's "wheezy" does through Alpine's musl.
	// Here the host's own Debian glibc, dash and coreutils, its getent resolving, and the same
	// Go dig as agnhost's.
	glibc, err := testimages.HostFiles("/bin/sh", "/usr/bin/getent", "/usr/bin/seq", "/usr/bin/sleep", "/usr/bin/cat", "/usr/bin/hostname", "/usr/bin/env")
	if err != nil {
		return nil, fmt.Errorf("glibc-dns-testing from the host's programs: %w", err)
	}
	glibc = append(glibc,
		testimages.File{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		testimages.File{Name: "etc/", Type: tar.TypeDir},
		testimages.File{Name: "etc/nsswitch.conf", Body: []byte(nsswitch)},
		testimages.File{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		testimages.File{Name: "etc/group", Body: []byte("root:x:0:\n")},
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
		{[]string{"registry.k8s.io/e2e-test-images/nonewprivs:1.4"}, nonewprivs, v1.Config{Cmd: []string{"nnp"}}},
		{[]string{"registry.k8s.io/e2e-test-images/glibc-dns-testing:2.0.0"}, glibc, shCfg},
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
