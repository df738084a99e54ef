// Command mkimage writes a locally built test image as a tar, for `crid image import`,
// `docker load` or `ctr import`:
//
//	go run ./hack/testimages/cmd/mkimage -o busybox.tar -tag docker.io/library/busybox:latest
//	go run ./hack/testimages/cmd/mkimage -image httpd -format oci -o httpd.tar -tag example.com/httpd:1
package main

import (
	"flag"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

func main() {
	out := flag.String("o", "image.tar", "output tar file")
	tag := flag.String("tag", "docker.io/library/busybox:latest", "reference the image is named by in the tar")
	kind := flag.String("image", "busybox", "busybox, busybox-static, busybox-zstd, httpd or bench (200 MiB)")
	format := flag.String("format", "docker", "docker (docker save) or oci (OCI image layout)")
	flag.Parse()

	builders := map[string]func() (v1.Image, error){
		"busybox":        testimages.Busybox,
		"busybox-static": testimages.BusyboxStatic,
		"busybox-zstd":   testimages.BusyboxZstd,
		"httpd":          testimages.Httpd,
		"bench":          testimages.Bench,
	}
	build, ok := builders[*kind]
	if !ok {
		fail(fmt.Errorf("unknown image %q", *kind))
	}
	img, err := build()
	if err != nil {
		fail(err)
	}
	write := testimages.WriteDockerSave
	switch *format {
	case "docker":
	case "oci":
		write = testimages.WriteOCILayout
	default:
		fail(fmt.Errorf("unknown format %q", *format))
	}
	if err := write(*out, map[string]v1.Image{*tag: img}); err != nil {
		fail(err)
	}
	d, _ := img.Digest()
	id, _ := img.ConfigName()
	fmt.Printf("%s: %s (manifest %s, id %s)\n", *out, *tag, d, id)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}
