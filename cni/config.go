package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/errdefs"
)

// confExtensions are the files libcni, kubelet and containerd consider.
var confExtensions = []string{".conflist", ".conf", ".json"}

// confState is the loaded network config and the dir fingerprint it came from.
//
// Reload is a stat-based check on every Ready/Setup/Teardown/Check instead of
// an inotify watch: the dir holds a handful of files, so one ReadDir plus a
// stat each costs microseconds next to exec'ing a plugin chain, and kubelet
// polls Status (hence Ready) every few seconds, so a new config is noticed
// promptly. Polling also needs no goroutine or fd, does not lose its watch
// when the dir is deleted and recreated (or is created only later), and
// sees edits made through symlinks (ConfigMap-style ..data swaps).
type confState struct {
	fingerprint string
	list        *libcni.NetworkConfigList
	file        string
	err         error // why no config is usable; nil when list is set

	// Validation runs every plugin's VERSION: it catches a missing plugin
	// and a cniVersion the installed plugins do not speak (e.g. "1.1.0"
	// with Debian's 1.0.0-only plugins), which would otherwise fail each
	// pod's ADD. Redone at most every revalidateInterval until it passes,
	// so plugins installed after crid started are picked up without a
	// restart yet a broken node does not exec plugins on every call.
	validated   bool
	validateErr error
	validatedAt time.Time
}

// validateTimeout bounds plugin VERSION calls; Ready (CRI Status) waits for them.
const validateTimeout = 5 * time.Second

var revalidateInterval = 2 * time.Second // a var so tests need not sleep

// Ready returns nil when a valid network config is loaded and its plugins
// are installed; otherwise an ErrUnavailable error saying why not.
func (m *Manager) Ready() error {
	_, err := m.current()
	return err
}

// current reloads the config if the dir changed and returns it.
func (m *Manager) current() (*libcni.NetworkConfigList, error) {
	fp := fingerprint(m.cfg.ConfDir)
	m.mu.Lock()
	defer m.mu.Unlock()
	st := &m.conf
	if st.fingerprint != fp || (st.list == nil && st.err == nil) || m.defaultInUseBlocked(st) {
		list, file, err := m.loadFirst()
		*st = confState{fingerprint: fp, list: list, file: file, err: err}
		if err != nil {
			slog.Warn("cni: network not ready", "err", err)
		} else {
			slog.Info("cni: loaded network config", "file", file, "network", list.Name, "cniVersion", list.CNIVersion)
		}
	}
	if st.err != nil {
		return nil, st.err
	}
	if !st.validated {
		if st.validateErr != nil && time.Since(st.validatedAt) < revalidateInterval {
			return nil, st.validateErr
		}
		ctx, cancel := context.WithTimeout(context.Background(), validateTimeout)
		defer cancel()
		st.validatedAt = time.Now()
		if _, err := m.cni.ValidateNetworkList(ctx, st.list); err != nil {
			st.validateErr = fmt.Errorf("cni: network %q (%s) unusable with plugins in %s: %v: %w",
				st.list.Name, st.file, strings.Join(m.cfg.BinDirs, ":"), err, errdefs.ErrUnavailable)
			slog.Warn("cni: network not ready", "err", st.validateErr)
			return nil, st.validateErr
		}
		st.validated, st.validateErr = true, nil
	}
	return st.list, nil
}

// fingerprint names the config files with their inode, size, times and
// mode, so any create, delete, rename or edit changes it.
func fingerprint(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "error:" + err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		if !isConfFile(e.Name()) {
			continue
		}
		b.WriteString(e.Name())
		// Stat, not the entry's lstat, so edits behind symlinks count.
		// The inode catches atomic replacement (rename) even when size and
		// mtime happen to match; ctime catches chmod and in-place edits.
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, e.Name()), &st); err == nil {
			fmt.Fprintf(&b, "|%d|%d|%d.%d|%d.%d|%o", st.Ino, st.Size,
				st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec, st.Mode)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func isConfFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false // editors' and our own temp files
	}
	for _, ext := range confExtensions {
		if filepath.Ext(name) == ext {
			return true
		}
	}
	return false
}

// defaultInUseBlocked reports whether st holds crid's default network, which may no
// longer be used (kubelet turned to cluster mode since it was loaded).
func (m *Manager) defaultInUseBlocked(st *confState) bool {
	return st.list != nil && filepath.Base(st.file) == DefaultConfigFile && m.defaultBlocked() != ""
}

// loadFirst returns the first valid config by file name, as kubelet and
// CRI-O do. Invalid files are skipped (and reported) rather than fatal, so a
// stray broken file does not take the node's network down; when no file is
// valid the error lists every reason. crid's default network counts only
// while no other config exists and its use is not blocked (default_policy.go);
// otherwise it is ignored, and removed if crid wrote it.
func (m *Manager) loadFirst() (*libcni.NetworkConfigList, string, error) {
	dir := m.cfg.ConfDir
	others := hasOtherConfig(dir)
	if others {
		retireDefault(dir, "another network config exists")
	} else if blocked := m.defaultBlocked(); blocked != "" {
		if _, err := os.Stat(filepath.Join(dir, DefaultConfigFile)); err == nil {
			retireDefault(dir, blocked)
			return nil, "", blockedDefaultErr(dir, blocked)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("cni: reading network config dir %s: %v: %w", dir, err, errdefs.ErrUnavailable)
	}
	var problems []string
	for _, e := range entries {
		if !isConfFile(e.Name()) || (others && e.Name() == DefaultConfigFile) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			continue
		}
		list, err := loadFile(path)
		if err != nil {
			slog.Warn("cni: skipping invalid network config", "file", path, "err", err)
			problems = append(problems, fmt.Sprintf("%s: %v", e.Name(), err))
			continue
		}
		return list, path, nil
	}
	if len(problems) > 0 {
		return nil, "", fmt.Errorf("cni: no valid network config in %s (%s): %w",
			dir, strings.Join(problems, "; "), errdefs.ErrUnavailable)
	}
	return nil, "", fmt.Errorf("cni: no network config found in %s: %w", dir, errdefs.ErrUnavailable)
}

// loadFile parses a .conflist, or a single-plugin .conf/.json wrapped into a list.
func loadFile(path string) (*libcni.NetworkConfigList, error) {
	var list *libcni.NetworkConfigList
	if filepath.Ext(path) == ".conflist" {
		l, err := libcni.NetworkConfFromFile(path)
		if err != nil {
			return nil, err
		}
		list = l
	} else {
		// Deprecated upstream, but single-plugin files are still what
		// many installers write, and kubelet and containerd accept them.
		conf, err := libcni.ConfFromFile(path) //nolint:staticcheck // SA1019: see above
		if err != nil {
			return nil, err
		}
		l, err := libcni.ConfListFromConf(conf) //nolint:staticcheck // SA1019: see above
		if err != nil {
			return nil, err
		}
		list = l
	}
	if list.Name == "" {
		return nil, errors.New("no network name")
	}
	if len(list.Plugins) == 0 {
		return nil, errors.New("no plugins")
	}
	for i, p := range list.Plugins {
		if p.Network.Type == "" {
			return nil, fmt.Errorf("plugin %d has no type", i)
		}
	}
	return list, nil
}
