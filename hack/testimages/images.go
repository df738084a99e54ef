package testimages

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"regexp"
	"runtime"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where the busybox binaries come from: Debian's dynamic busybox package, and the static
// one hack/setup.sh extracts (busybox-static conflicts with busybox as a package).
const (
	DynamicBusybox = "/bin/busybox"
	StaticBusybox  = "/var/cache/crid-setup/busybox-static"
)

// DefaultEnv is the PATH every busybox image sets.
var DefaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// Applets linked in every busybox image when the binary has them (all of its applets are).
var commonApplets = []string{"sh", "ls", "cat", "echo", "sleep", "httpd", "wget", "nc", "id", "top", "ps",
	"mount", "hostname", "true", "false", "env", "tail", "head", "dd", "grep", "kill", "date", "seq", "sort", "ip"}

// BusyboxFiles returns the root filesystem of a busybox image built from binary (a path;
// DynamicBusybox or StaticBusybox): the binary, the shared libraries ldd lists for it, every
// applet as a hard link in /bin, and a minimal /etc.
func BusyboxFiles(binary string) ([]File, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("testimages: busybox binary (run hack/setup.sh): %w", err)
	}
	files := []File{}
	for _, d := range []string{"bin", "dev", "etc", "home", "lib", "proc", "root", "run", "sbin", "sys", "usr", "usr/bin", "usr/sbin", "var", "var/www"} {
		files = append(files, File{Name: d + "/", Type: tar.TypeDir})
	}
	files = append(files,
		File{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		File{Name: "root/", Type: tar.TypeDir, Mode: 0o700},
		File{Name: "bin/busybox", Mode: 0o755, Body: bin},
		File{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		File{Name: "etc/group", Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
		File{Name: "var/www/index.html", Body: []byte("hello from crid\n")},
	)
	libs, err := sharedLibs(binary)
	if err != nil {
		return nil, err
	}
	libFiles, err := hostFiles(libs)
	if err != nil {
		return nil, err
	}
	files = append(libFiles, files...)
	applets, err := appletList(binary)
	if err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		files = append(files, File{Name: "bin/" + a, Type: tar.TypeLink, Linkname: "bin/busybox"})
	}
	return files, nil
}

func sortFiles(fs []File) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && (len(fs[j].Name) < len(fs[j-1].Name) || len(fs[j].Name) == len(fs[j-1].Name) && fs[j].Name < fs[j-1].Name); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

var lddRe = regexp.MustCompile(`(/\S+)\s+\(0x`)

// sharedLibs lists the libraries (and the ELF interpreter) a dynamic binary loads;
// none for a static one.
func sharedLibs(binary string) ([]string, error) {
	out, err := exec.Command("ldd", binary).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("not a dynamic executable")) || bytes.Contains(out, []byte("statically linked")) {
			return nil, nil
		}
		return nil, fmt.Errorf("testimages: ldd %s: %v: %s", binary, err, out)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := lddRe.FindStringSubmatch(sc.Text()); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs, nil
}

func appletList(binary string) ([]string, error) {
	out, err := exec.Command(binary, "--list").Output()
	if err != nil {
		return commonApplets, nil //nolint:nilerr // an old busybox without --list: link the common set
	}
	return strings.Fields(string(out)), nil
}

var cache sync.Map // builder name -> result, so repeated calls in one process are cheap

type cached struct {
	img v1.Image
	idx v1.ImageIndex
	err error
}

func memo(key string, build func() (v1.Image, error)) (v1.Image, error) {
	if c, ok := cache.Load(key); ok {
		return c.(*cached).img, c.(*cached).err
	}
	img, err := build()
	c, _ := cache.LoadOrStore(key, &cached{img: img, err: err})
	return c.(*cached).img, c.(*cached).err
}

func busyboxImage(binary string, c Compression, cfg v1.Config, extra ...File) (v1.Image, error) {
	files, err := BusyboxFiles(binary)
	if err != nil {
		return nil, err
	}
	files = append(files, extra...)
	l, err := Layer(files, c)
	if err != nil {
		return nil, err
	}
	if cfg.Env == nil {
		cfg.Env = DefaultEnv
	}
	return Image(runtime.GOARCH, cfg, l)
}

func busyboxCfg() v1.Config { return v1.Config{Cmd: []string{"sh"}} }

// Busybox is the busybox image from Debian's dynamic busybox, one gzip layer, Cmd ["sh"].
func Busybox() (v1.Image, error) {
	return memo("busybox", func() (v1.Image, error) {
		return busyboxImage(DynamicBusybox, Gzip, busyboxCfg())
	})
}

// BusyboxStatic is Busybox built from busybox-static (no shared libraries).
func BusyboxStatic() (v1.Image, error) {
	return memo("busybox-static", func() (v1.Image, error) {
		return busyboxImage(StaticBusybox, Gzip, busyboxCfg())
	})
}

// BusyboxZstd is Busybox with a zstd-compressed layer.
func BusyboxZstd() (v1.Image, error) {
	return memo("busybox-zstd", func() (v1.Image, error) {
		return busyboxImage(DynamicBusybox, Zstd, busyboxCfg())
	})
}

// BusyboxUncompressed is Busybox with an uncompressed layer.
func BusyboxUncompressed() (v1.Image, error) {
	return memo("busybox-uncompressed", func() (v1.Image, error) {
		return busyboxImage(DynamicBusybox, Uncompressed, busyboxCfg())
	})
}

// BusyboxDocker is Busybox with Docker schema 2 media types.
func BusyboxDocker() (v1.Image, error) {
	return memo("busybox-docker", func() (v1.Image, error) {
		img, err := Busybox()
		if err != nil {
			return nil, err
		}
		return AsDocker(img)
	})
}

// Httpd is busybox serving /var/www ("hello from crid") on port 80 in the foreground.
func Httpd() (v1.Image, error) {
	return memo("httpd", func() (v1.Image, error) {
		return busyboxImage(DynamicBusybox, Gzip, v1.Config{
			Cmd:          []string{"httpd", "-f", "-v", "-p", "80", "-h", "/var/www"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
		})
	})
}

// Variant is Busybox plus a file /variant holding label, a distinct image (its own config
// digest) for tests that need several, e.g. to move a tag from one to another.
func Variant(label string) (v1.Image, error) {
	return memo("variant-"+label, func() (v1.Image, error) {
		base, err := Busybox()
		if err != nil {
			return nil, err
		}
		l, err := Layer([]File{{Name: "variant", Body: []byte(label + "\n")}}, Gzip)
		if err != nil {
			return nil, err
		}
		return mutate.AppendLayers(base, l)
	})
}

// Large is an image of n layers each holding size bytes of incompressible (seeded random)
// data in 8 MiB files, gzip-compressed: the pull benchmark's image.
func Large(n int, size int64) (v1.Image, error) {
	return memo(fmt.Sprintf("large-%d-%d", n, size), func() (v1.Image, error) {
		var layers []v1.Layer
		for i := 0; i < n; i++ {
			rng := rand.New(rand.NewChaCha8([32]byte{byte(i), 'c', 'r', 'i', 'd'})) //nolint:gosec // G404: reproducible test data, not secrets
			var files []File
			files = append(files, File{Name: fmt.Sprintf("data%d/", i), Type: tar.TypeDir})
			for off, j := int64(0), 0; off < size; j++ {
				chunk := min(size-off, 8<<20)
				body := make([]byte, chunk)
				for k := 0; k+8 <= len(body); k += 8 {
					v := rng.Uint64()
					for b := 0; b < 8; b++ {
						body[k+b] = byte(v >> (8 * b))
					}
				}
				files = append(files, File{Name: fmt.Sprintf("data%d/blob%03d", i, j), Body: body})
				off += chunk
			}
			l, err := Layer(files, Gzip)
			if err != nil {
				return nil, err
			}
			layers = append(layers, l)
		}
		return Image(runtime.GOARCH, v1.Config{Cmd: []string{"true"}, Env: DefaultEnv}, layers...)
	})
}

// Bench is the benchmark image: 5 layers of 40 MiB (200 MiB) of incompressible data.
func Bench() (v1.Image, error) { return Large(5, 40<<20) }

// MultiArch is an OCI index of Busybox for runtime.GOARCH and a stub image for the other of
// amd64/arm64 (its config says so; its only file is /arch), to test platform selection.
func MultiArch() (v1.ImageIndex, error) {
	if c, ok := cache.Load("multiarch"); ok {
		return c.(*cached).idx, c.(*cached).err
	}
	idx, err := func() (v1.ImageIndex, error) {
		native, err := Busybox()
		if err != nil {
			return nil, err
		}
		other := "arm64"
		if runtime.GOARCH == "arm64" {
			other = "amd64"
		}
		l, err := Layer([]File{{Name: "arch", Body: []byte(other + "\n")}}, Gzip)
		if err != nil {
			return nil, err
		}
		foreign, err := Image(other, v1.Config{Cmd: []string{"sh"}}, l)
		if err != nil {
			return nil, err
		}
		base := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		return mutate.AppendManifests(base,
			mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
			mutate.IndexAddendum{Add: native, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
		), nil
	}()
	c, _ := cache.LoadOrStore("multiarch", &cached{idx: idx, err: err})
	return c.(*cached).idx, c.(*cached).err
}

// Whiteouts is a two-layer image. Lower: /a/keep, /a/gone, /opq/old, /opq/sub/old2.
// Upper: /a/.wh.gone (deletes /a/gone), /opq/.wh..wh..opq (hides all of the lower /opq)
// and /opq/new. The merged view has /a/keep, /opq/new and nothing else under /a and /opq.
func Whiteouts() (v1.Image, error) {
	return memo("whiteouts", func() (v1.Image, error) {
		lower, err := Layer([]File{
			{Name: "a/", Type: tar.TypeDir},
			{Name: "a/keep", Body: []byte("keep\n")},
			{Name: "a/gone", Body: []byte("gone\n")},
			{Name: "opq/", Type: tar.TypeDir},
			{Name: "opq/old", Body: []byte("old\n")},
			{Name: "opq/sub/", Type: tar.TypeDir},
			{Name: "opq/sub/old2", Body: []byte("old2\n")},
		}, Gzip)
		if err != nil {
			return nil, err
		}
		upper, err := Layer([]File{
			{Name: "a/", Type: tar.TypeDir},
			{Name: "a/.wh.gone"},
			{Name: "opq/", Type: tar.TypeDir},
			{Name: "opq/.wh..wh..opq"},
			{Name: "opq/new", Body: []byte("new\n")},
		}, Gzip)
		if err != nil {
			return nil, err
		}
		return Image(runtime.GOARCH, v1.Config{Cmd: []string{"sh"}}, lower, upper)
	})
}

// Malicious returns images whose single layer tries to write target (an absolute path on
// the host) from outside the rootfs, keyed by technique:
//
//	traversal     "../../../<target>" and "/<target>" entries
//	abs-symlink   a symlink to target's directory (absolute), then a file through it
//	rel-symlink   a symlink climbing out with "../" (relative), then a file through it
//	hardlink      a hard link to target (absolute and "../" forms), then data written to it
//
// A safe unpacker either keeps every write inside the rootfs or refuses the layer; target
// must stay unchanged (same content, one link) and nothing must appear next to it.
func Malicious(target string) (map[string]v1.Image, error) {
	dir, base := path.Dir(target), path.Base(target)
	up := strings.Repeat("../", 32)
	kinds := map[string][]File{
		"traversal": {
			{Name: up + strings.TrimPrefix(target, "/"), Body: []byte("pwned\n")},
			{Name: target, Body: []byte("pwned\n")},
			{Name: up + strings.TrimPrefix(dir, "/") + "/escaped-traversal", Body: []byte("pwned\n")},
		},
		"abs-symlink": {
			{Name: "evil", Type: tar.TypeSymlink, Linkname: dir},
			{Name: "evil/" + base, Body: []byte("pwned\n")},
			{Name: "evil/escaped-abs-symlink", Body: []byte("pwned\n")},
		},
		"rel-symlink": {
			{Name: "sub/", Type: tar.TypeDir},
			{Name: "sub/evil", Type: tar.TypeSymlink, Linkname: up + strings.TrimPrefix(dir, "/")},
			{Name: "sub/evil/" + base, Body: []byte("pwned\n")},
			{Name: "sub/evil/escaped-rel-symlink", Body: []byte("pwned\n")},
		},
		"hardlink": {
			{Name: "hl-abs", Type: tar.TypeLink, Linkname: target},
			{Name: "hl-rel", Type: tar.TypeLink, Linkname: up + strings.TrimPrefix(target, "/")},
			{Name: "hl-abs", Body: []byte("pwned\n")},
		},
	}
	out := map[string]v1.Image{}
	for k, files := range kinds {
		l, err := Layer(files, Gzip)
		if err != nil {
			return nil, err
		}
		img, err := Image(runtime.GOARCH, v1.Config{Cmd: []string{"sh"}}, l)
		if err != nil {
			return nil, err
		}
		out[k] = img
	}
	return out, nil
}
