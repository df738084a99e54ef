package cni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/errdefs"
)

// NetNSPath is where NewNetNS pins podID's network namespace.
func (m *Manager) NetNSPath(podID string) string {
	return filepath.Join(m.cfg.NetNSDir, podID)
}

// ListNetNS returns the IDs of the pods that have a namespace pinned in
// NetNSDir, so a restarted daemon can remove those no pod owns any more.
func (m *Manager) ListNetNS() ([]string, error) {
	entries, err := os.ReadDir(m.cfg.NetNSDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("cni: listing netns dir: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// NewNetNS creates a network namespace for podID, pins it by bind-mounting it
// onto <NetNSDir>/<podID> and brings its loopback up. The name is derived
// from the pod ID so that a restarted daemon can find and remove a namespace
// a crash left behind; an existing one is ErrAlreadyExists.
func (m *Manager) NewNetNS(podID string) (path string, err error) {
	if podID == "" || strings.ContainsAny(podID, "/\x00") || podID == "." || podID == ".." {
		return "", fmt.Errorf("cni: netns name %q: %w", podID, errdefs.ErrInvalidArgument)
	}
	if err := m.ensureNetNSDir(); err != nil {
		return "", err
	}
	path = m.NetNSPath(podID)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("cni: netns %s: %w", path, errdefs.ErrAlreadyExists)
		}
		return "", fmt.Errorf("cni: creating netns file: %w", err)
	}
	f.Close()
	if err := pinNewNetNS(path); err != nil {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return "", fmt.Errorf("cni: netns for pod %q: %w", podID, err)
	}
	return path, nil
}

// pinNewNetNS unshares a network namespace on a dedicated OS thread and
// bind-mounts it onto path. The thread switches back to its original
// namespace afterwards and also stays locked, so the Go runtime discards it
// when the goroutine ends: no goroutine of the daemon can ever run in the
// pod's namespace. Switching back matters for the main thread, which the
// runtime parks instead of killing; parked in the pod's namespace it would
// keep that namespace alive forever.
func pinNewNetNS(path string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- onNewNetNS(func() error {
			src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
			if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind-mounting %s on %s: %w", src, path, err)
			}
			return loopbackUp()
		})
	}()
	return <-errc
}

// onNewNetNS runs fn in a new network namespace on the locked calling
// thread, then returns the thread to the namespace it was in.
func onNewNetNS(fn func() error) error {
	orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil && ferr == nil {
		ferr = fmt.Errorf("returning to the original netns: %w", err)
	}
	return ferr
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
// A pod needs a working 127.0.0.1 even when the config's chain has no
// loopback plugin; an ioctl avoids a netlink dependency for one flag.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: set up: %w", err)
	}
	return nil
}

// ensureNetNSDir makes NetNSDir a mount point with shared propagation, as
// iproute2 does for /run/netns. Mount namespaces created later (pod
// monitors, containers before pivot_root) get copies of the pinned netns
// mounts; with shared propagation our unmount reaches those copies (in
// shared or slave namespaces) at once, instead of a copy keeping the
// namespace, its lo and any leftover interface alive. Unlinking the file
// (Linux 3.18+) also detaches copies; this does not depend on that alone.
func (m *Manager) ensureNetNSDir() error {
	m.nsDirMu.Lock()
	defer m.nsDirMu.Unlock()
	if m.nsDirReady {
		return nil
	}
	dir := m.cfg.NetNSDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cni: creating netns dir: %w", err)
	}
	bound := false
	for {
		err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			break
		}
		// EINVAL: dir is not a mount point yet; bind it onto itself once.
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("cni: making %s a shared mount: %w", dir, err)
		}
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("cni: bind-mounting %s onto itself: %w", dir, err)
		}
		bound = true
	}
	m.nsDirReady = true
	return nil
}

// RemoveNetNS unmounts and deletes a namespace pinned by NewNetNS. It is
// idempotent: a path already unmounted or gone is fine. Outside NetNSDir it
// only acts on an actual namespace file, so a wrong path cannot make it
// delete an unrelated file.
func (m *Manager) RemoveNetNS(path string) error {
	if path == "" {
		return nil
	}
	path = filepath.Clean(path)
	if filepath.Dir(path) != filepath.Clean(m.cfg.NetNSDir) && !isNetNS(path) {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("cni: %s is neither in %s nor a network namespace: %w",
			path, m.cfg.NetNSDir, errdefs.ErrInvalidArgument)
	}
	// Detach, because a plugin or an exec still inside the namespace must not
	// make removal fail; the namespace dies with its last user.
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cni: unmounting netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cni: removing netns %s: %w", path, err)
	}
	return nil
}

// isNetNS reports whether path is a network namespace file (pinned, or in
// /proc): nsfs, and of type net, so a pinned mount or pid namespace is not
// mistaken for one.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		return false
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	return err == nil && typ == unix.CLONE_NEWNET
}
