package testimages

import (
	"bytes"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sparse is an image whose single layer holds one GNU sparse file, /sparse, of size bytes
// that are all hole: the layer's blob is a few hundred bytes, the file it unpacks to is
// size bytes long. (archive/tar no longer writes sparse files, so the header is built
// here by hand.)
func Sparse(size int64) (v1.Image, error) {
	return memo(fmt.Sprintf("sparse-%d", size), func() (v1.Image, error) {
		l, err := LayerFromTar(sparseTar("sparse", size), Gzip)
		if err != nil {
			return nil, err
		}
		return Image(runtime.GOARCH, v1.Config{Cmd: []string{"sh"}}, l)
	})
}

// Zeros is an image whose single layer holds /zeros, size zero bytes: a gzip bomb (the
// blob is about a thousandth of size).
func Zeros(size int64) (v1.Image, error) {
	return memo(fmt.Sprintf("zeros-%d", size), func() (v1.Image, error) {
		l, err := Layer([]File{{Name: "zeros", Body: make([]byte, size)}}, Gzip)
		if err != nil {
			return nil, err
		}
		return Image(runtime.GOARCH, v1.Config{Cmd: []string{"sh"}}, l)
	})
}

// sparseTar is a tar of one old-GNU-format sparse entry ('S') with no data fragments.
func sparseTar(name string, size int64) []byte {
	var hdr [512]byte
	copy(hdr[0:], name)
	octal := func(b []byte, v int64) { copy(b, fmt.Sprintf("%0*o", len(b)-1, v)) }
	octal(hdr[100:108], 0o644)
	octal(hdr[108:116], 0)
	octal(hdr[116:124], 0)
	octal(hdr[124:136], 0) // no stored data: the whole file is one hole
	octal(hdr[136:148], Epoch.Unix())
	hdr[156] = 'S'
	copy(hdr[257:], "ustar  \x00")
	octal(hdr[483:495], size) // the real size
	copy(hdr[148:156], "        ")
	var sum int64
	for _, c := range hdr {
		sum += int64(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	var buf bytes.Buffer
	buf.Write(hdr[:])
	buf.Write(make([]byte, 1024)) // end of archive
	return buf.Bytes()
}
