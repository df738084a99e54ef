package images

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/hack/testimages"
)

// A layer's big files and its blob are written with O_DIRECT (not left in the page cache)
// and read back byte for byte, whatever their sizes: whole buffers, a tail shorter than a
// block, holes between direct chunks. Small files are written buffered, as before.
func TestPullWritesBigFilesDirect(t *testing.T) {
	requireRoot(t)
	rng := rand.New(rand.NewChaCha8([32]byte{'d', 'i', 'o'})) //nolint:gosec // G404: reproducible test data, not secrets
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	const buf = writeBufSize
	holed := random(3*buf + 123)
	clear(holed[buf : 2*buf]) // a hole between two direct chunks
	bodies := map[string][]byte{
		"empty": {}, "small": random(100), "block-1": random(directAlign - 1), "block": random(directAlign),
		"buf-1": random(buf - 1), "buf": random(buf), "buf+1": random(buf + 1), "holed": holed,
		"tail-zeros": append(random(buf), make([]byte, 5000)...),
	}
	var files []testimages.File
	for name, b := range bodies {
		files = append(files, testimages.File{Name: name, Body: b})
	}
	l := must[v1.Layer](t)(testimages.Layer(files, testimages.Gzip))
	reg := newRegistry(t)
	push(t, reg, "direct/img:1", must[v1.Image](t)(testimages.Image(runtime.GOARCH, v1.Config{}, l)))
	e := newEnv(t, nil)
	img := e.pull(t, reg.Ref("direct/img:1"))

	fsDir := e.svc.snapshotFS(img.ChainID)
	direct := directIOWorks(t, fsDir)
	for name, want := range bodies {
		p := filepath.Join(fsDir, name)
		if direct && len(want) >= buf { // before reading it back, which caches it
			// The whole buffers went direct; a tail shorter than a block may be cached.
			if c := cachedPages(t, p, len(want)&^(directAlign-1)); c != 0 {
				t.Errorf("%s: %d pages of its whole blocks in the page cache: not written direct", name, c)
			}
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: read back %d bytes (%v), want the %d written", name, len(got), err, len(want))
		}
	}

	d := must[v1.Hash](t)(l.Digest()).String()
	p := must[string](t)(e.svc.blobPath(d))
	size := must[int64](t)(l.Size())
	if size < buf {
		t.Fatalf("blob of %d bytes: the test wants more than a buffer", size)
	}
	if direct {
		if c := cachedPages(t, p, int(size)&^(directAlign-1)); c != 0 {
			t.Errorf("blob: %d pages of its whole blocks in the page cache: not written direct", c)
		}
	}
	blob := must[[]byte](t)(os.ReadFile(p))
	if got := sha256Digest(blob); got != d || int64(len(blob)) != size {
		t.Errorf("blob read back: %d bytes, digest %s, want %d bytes, %s", len(blob), got, size, d)
	}
}

// A direct write the filesystem refuses (here: memory not aligned) is written buffered.
func TestDirectWriteFallsBackToBuffered(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := alignedBuf(3 * directAlign)
	for i := range b {
		b[i] = byte(i)
	}
	d := directFile{f: f}
	if err := d.write(b[1 : 1+2*directAlign]); err != nil {
		t.Fatal(err)
	}
	if err := d.write(b[1:2]); err != nil { // refused once: buffered from then on
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if want := append(bytes.Clone(b[1:1+2*directAlign]), b[1]); err != nil || !bytes.Equal(got, want) {
		t.Errorf("read back %d bytes (%v), want %d", len(got), err, len(want))
	}
	if d.direct {
		t.Error("O_DIRECT left on")
	}
	if directIOWorks(t, filepath.Dir(f.Name())) && !d.refused {
		t.Error("the misaligned direct write was not refused: the test checks nothing")
	}
}

// directIOWorks reports whether dir's filesystem takes O_DIRECT and keeps such writes out of
// the page cache (tmpfs takes the flag, but its files live in the page cache).
func directIOWorks(t *testing.T, dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Logf("%s is on tmpfs: page cache residency not checked", dir)
		return false
	}
	fd, err := unix.Open(dir, unix.O_WRONLY|unix.O_TMPFILE|unix.O_DIRECT, 0o600)
	if err != nil {
		t.Logf("no O_DIRECT on %s (%v): page cache residency not checked", dir, err)
		return false
	}
	unix.Close(fd)
	return true
}

// cachedPages counts the pages of p's first n bytes in the page cache.
func cachedPages(t *testing.T, p string, n int) int {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m) //nolint:errcheck // a test mapping, read only
	vec := make([]byte, (n+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(n), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	c := 0
	for _, v := range vec {
		c += int(v & 1)
	}
	return c
}
