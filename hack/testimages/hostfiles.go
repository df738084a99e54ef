package testimages

import (
	"archive/tar"
	"os"
	"path"
	"strings"
)

// HostFiles returns programs of the host (absolute paths) as image files at the same
// paths, with the shared libraries ldd lists for them: an image of the host's own
// programs and C library (hack/cluster's glibc image). Symlinks are followed: the image
// gets plain files, under plain directories, parents first.
func HostFiles(programs ...string) ([]File, error) {
	paths := append([]string{}, programs...)
	seen := map[string]bool{}
	for _, p := range programs {
		libs, err := sharedLibs(p)
		if err != nil {
			return nil, err
		}
		for _, l := range libs {
			if !seen[l] {
				seen[l] = true
				paths = append(paths, l)
			}
		}
	}
	return hostFiles(paths)
}

// hostFiles reads host files (absolute paths, symlinks followed) into image files at the
// same paths, preceded by their parent directories, parents first.
func hostFiles(paths []string) ([]File, error) {
	var files []File
	dirs := map[string]bool{}
	for _, p := range paths {
		body, err := os.ReadFile(p) // follows symlinks: the image gets a plain file
		if err != nil {
			return nil, err
		}
		rel := strings.TrimPrefix(p, "/")
		for d := path.Dir(rel); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
		files = append(files, File{Name: rel, Mode: 0o755, Body: body})
	}
	dirFiles := make([]File, 0, len(dirs))
	for d := range dirs {
		dirFiles = append(dirFiles, File{Name: d + "/", Type: tar.TypeDir})
	}
	// Parents before children: shorter paths first.
	sortFiles(dirFiles)
	return append(dirFiles, files...), nil
}
