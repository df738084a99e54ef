package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// parseVolume reads -v HOSTDIR:CTRDIR[:ro|rw]. Only bind mounts of existing absolute
// host paths: CRI has no named volumes, and creating a missing host dir (docker's old
// habit) turns a typo into an empty mount.
func parseVolume(s string) (*runtimeapi.Mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("invalid volume specification: %q", s)
	}
	host, ctr := parts[0], parts[1]
	m := &runtimeapi.Mount{HostPath: host, ContainerPath: ctr}
	if len(parts) == 3 {
		for opt := range strings.SplitSeq(parts[2], ",") {
			switch opt {
			case "ro":
				m.Readonly = true
			case "rw", "":
			default:
				return nil, fmt.Errorf("invalid volume specification: %q: unknown mode %q", s, opt)
			}
		}
	}
	if !filepath.IsAbs(host) {
		return nil, fmt.Errorf("invalid volume specification: %q: named volumes are not supported, the host path must be absolute", s)
	}
	if !filepath.IsAbs(ctr) || filepath.Clean(ctr) == "/" {
		return nil, fmt.Errorf("invalid volume specification: %q: the container path must be absolute and not /", s)
	}
	if _, err := os.Stat(host); err != nil {
		return nil, fmt.Errorf("invalid mount config: bind source path does not exist: %s", host)
	}
	return m, nil
}

// tmpfsSpec is one --tmpfs DIR[:OPTIONS].
type tmpfsSpec struct {
	target string
	flags  uintptr // MS_* flags
	data   string  // tmpfs mount data: size=, mode=, uid=, gid=
}

func parseTmpfs(s string) (tmpfsSpec, error) {
	target, opts, _ := strings.Cut(s, ":")
	if !filepath.IsAbs(target) || filepath.Clean(target) == "/" {
		return tmpfsSpec{}, fmt.Errorf("invalid tmpfs %q: the container path must be absolute and not /", s)
	}
	t := tmpfsSpec{target: filepath.Clean(target), flags: unix.MS_NOSUID | unix.MS_NODEV}
	mode := "mode=1777" // docker's default: a world-writable /tmp-like dir
	var data []string
	for o := range strings.SplitSeq(opts, ",") {
		switch {
		case o == "" || o == "rw" || o == "exec" || o == "nosuid" || o == "nodev":
		case o == "ro":
			t.flags |= unix.MS_RDONLY
		case o == "noexec":
			t.flags |= unix.MS_NOEXEC
		case strings.HasPrefix(o, "mode="):
			mode = o
		case strings.HasPrefix(o, "size="), strings.HasPrefix(o, "uid="), strings.HasPrefix(o, "gid="):
			data = append(data, o)
		default:
			return tmpfsSpec{}, fmt.Errorf("invalid tmpfs %q: unknown option %q", s, o)
		}
	}
	t.data = strings.Join(append(data, mode), ",")
	return t, nil
}

// tmpfsRoot is where the host side of --tmpfs mounts lives, one dir per pod. CRI has no
// tmpfs mount, so this does what kubelet does for a memory-backed emptyDir: mount a tmpfs
// on the host and bind it into the container.
const tmpfsRoot = "/run/crid-cli"

// mountTmpfs mounts t on a fresh dir under dir and returns the bind mount for the
// container.
func mountTmpfs(dir string, i int, t tmpfsSpec) (*runtimeapi.Mount, string, error) {
	host := filepath.Join(dir, fmt.Sprintf("tmpfs%d", i))
	if err := os.MkdirAll(host, 0o700); err != nil {
		return nil, "", err
	}
	if err := unix.Mount("tmpfs", host, "tmpfs", t.flags, t.data); err != nil {
		os.Remove(host)
		return nil, "", fmt.Errorf("tmpfs %s: %w", t.target, err)
	}
	return &runtimeapi.Mount{HostPath: host, ContainerPath: t.target}, host, nil
}

// removeHostDirs unmounts the tmpfs dirs of a pod and removes its dir under tmpfsRoot.
func removeHostDirs(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		if err := unix.Unmount(d, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", d, err))
			continue
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(dirs) > 0 {
		_ = os.Remove(filepath.Dir(dirs[0])) // the pod's dir, when empty
		_ = os.Remove(tmpfsRoot)             // and the root, once no pod has one
	}
	return errors.Join(errs...)
}
