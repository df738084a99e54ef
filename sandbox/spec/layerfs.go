package spec

import (
	"io/fs"
	"path"
	"strings"
)

// LayerFS reads a file through overlay layers the way the container will
// see it, without mounting anything: layers are ordered top first (the
// writable upper dir, then LowerDirs as images.Rootfs lists them). A
// whiteout of the file or of a parent directory in a higher layer (an
// overlay 0/0 character device, or an OCI ".wh.<name>" entry) hides it.
// Opaque directories are not seen through fs.FS; they only matter for files
// an upper layer deletes by replacing a whole directory, which /etc/passwd
// and /etc/group updates do not do.
//
// Give it os.Root.FS() of each directory so that symlinks cannot lead out.
func LayerFS(layers ...fs.FS) fs.FS { return layerFS(layers) }

type layerFS []fs.FS

func (l layerFS) Open(name string) (fs.File, error) {
	layer, _, err := l.find("open", name)
	if err != nil {
		return nil, err
	}
	return layer.Open(name)
}

// Stat answers without opening the file (fs.Stat would otherwise Open it): opening a
// FIFO an image put at /etc/passwd blocks until a writer comes.
func (l layerFS) Stat(name string) (fs.FileInfo, error) {
	_, fi, err := l.find("stat", name)
	return fi, err
}

// find returns the topmost layer holding name, unless a higher one whites it out.
func (l layerFS) find(op, name string) (fs.FS, fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	for _, layer := range l {
		if layer == nil {
			continue
		}
		if hidden(layer, name) {
			break
		}
		if fi, err := fs.Stat(layer, name); err == nil {
			return layer, fi, nil
		}
	}
	return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// hidden reports whether layer whites out name or one of its parents.
func hidden(layer fs.FS, name string) bool {
	parts := strings.Split(name, "/")
	for i := range parts {
		p := path.Join(parts[:i+1]...)
		if fi, err := fs.Stat(layer, p); err == nil && fi.Mode()&fs.ModeCharDevice != 0 {
			return true
		}
		wh := path.Join(path.Dir(p), ".wh."+path.Base(p))
		if _, err := fs.Stat(layer, wh); err == nil {
			return true
		}
	}
	return false
}
