package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OOMWatch follows a cgroup's oom_kill count while the cgroup lives, so the
// count is known after the cgroup is gone: systemd removes a scope's cgroup
// as soon as its last process exits, which may be before the monitor reaps
// the container and asks (containerd watches memory.events the same way).
type OOMWatch struct {
	tree Tree
	path string
	seen atomic.Uint64
	in   *os.File // inotify; nil when nothing is watched
	done sync.WaitGroup
}

// WatchOOM starts following the oom_kill count of the cgroup at path. Only
// systemd units on v2 need it (other cgroups live until crid removes them);
// for the rest it only reads the count when asked.
func (t Tree) WatchOOM(path string) (*OOMWatch, error) {
	w := &OOMWatch{tree: t, path: path}
	if !t.OOMVanishes(path) {
		return w, nil
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(t.Root, path, "memory.events"), unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, err
	}
	w.in = os.NewFile(uintptr(fd), "inotify")
	w.update()
	w.done.Add(1)
	go w.follow()
	return w, nil
}

// follow re-reads the count at each change the kernel notifies, until the
// watch ends (the file went with its cgroup, or Close).
func (w *OOMWatch) follow() {
	defer w.done.Done()
	buf := make([]byte, 4096)
	for {
		n, err := w.in.Read(buf)
		if err != nil || n <= 0 {
			return
		}
		w.update()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off])) // the header as the kernel wrote it
			if ev.Mask&unix.IN_IGNORED != 0 {
				return
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

func (w *OOMWatch) update() {
	if n, err := w.tree.OOMKills(w.path); err == nil {
		for {
			old := w.seen.Load()
			if n <= old || w.seen.CompareAndSwap(old, n) {
				return
			}
		}
	}
}

// Count is the cgroup's oom_kill count: read now if the cgroup is still there,
// else the last one seen.
func (w *OOMWatch) Count() (uint64, error) {
	n, err := w.tree.OOMKills(w.path)
	if err == nil {
		w.update()
		return max(n, w.seen.Load()), nil
	}
	if w.in != nil && errors.Is(err, os.ErrNotExist) {
		return w.seen.Load(), nil
	}
	return 0, err
}

// Close ends the watch.
func (w *OOMWatch) Close() {
	if w.in != nil {
		_ = w.in.Close()
		w.done.Wait()
	}
}
