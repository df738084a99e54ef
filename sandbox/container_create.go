package sandbox

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox/spec"
)

// CreateContainer creates a container in pod podID; its process waits before execve until
// StartContainer. A retry with the same metadata gets the first call's result.
func (m *Manager) CreateContainer(ctx context.Context, podID string, cfg *runtimeapi.ContainerConfig) (string, error) {
	if err := validateContainer(cfg); err != nil {
		return "", err
	}
	pe, err := m.pods.lookup(podID)
	if err != nil {
		return "", err
	}
	// Pod removal waits for creations in flight (it takes the write lock).
	pe.op.RLock()
	defer pe.op.RUnlock()
	pod := pe.snap.Load()
	if !m.pods.holds(pe) || pod.Phase == PhaseRemoving {
		return "", fmt.Errorf("pod sandbox %s: %w", podID, errdefs.ErrNotFound)
	}
	if pod.State != PodReady {
		return "", fmt.Errorf("pod sandbox %s is not ready: %w", pod.ID, errdefs.ErrFailedPrecondition)
	}
	if err := m.checkHandlerSupports(pod, cfg); err != nil {
		return "", err
	}
	key := containerKey(pod.ID, cfg.Metadata)
	return m.ctrNames.do(ctx, key, func(ctx context.Context) (string, error) {
		if other, _, clash := m.ctrs.named(key); clash {
			return "", fmt.Errorf("container name %q (attempt %d) in pod %s is already used by container %s: %w",
				cfg.Metadata.Name, cfg.Metadata.Attempt, pod.ID, other, errdefs.ErrAlreadyExists)
		}
		return m.createContainer(ctx, pe, pod, cfg)
	})
}

func validateContainer(cfg *runtimeapi.ContainerConfig) error {
	switch {
	case cfg == nil:
		return fmt.Errorf("config: missing: %w", errdefs.ErrInvalidArgument)
	case cfg.Metadata == nil:
		return fmt.Errorf("config.metadata: missing: %w", errdefs.ErrInvalidArgument)
	case cfg.Metadata.Name == "":
		return fmt.Errorf("config.metadata.name: empty: %w", errdefs.ErrInvalidArgument)
	case cfg.Image.GetImage() == "":
		return fmt.Errorf("config.image.image: empty: %w", errdefs.ErrInvalidArgument)
	}
	for i, mnt := range cfg.Mounts {
		if mnt == nil {
			return fmt.Errorf("config.mounts[%d]: missing: %w", i, errdefs.ErrInvalidArgument)
		}
		if !filepath.IsAbs(mnt.ContainerPath) {
			return fmt.Errorf("config.mounts[%d].container_path %q: must be absolute: %w", i, mnt.ContainerPath, errdefs.ErrInvalidArgument)
		}
		if mnt.Image.GetImage() != "" {
			continue
		}
		if !filepath.IsAbs(mnt.HostPath) {
			return fmt.Errorf("config.mounts[%d].host_path %q: must be absolute: %w", i, mnt.HostPath, errdefs.ErrInvalidArgument)
		}
		if _, err := os.Stat(mnt.HostPath); err != nil {
			return fmt.Errorf("config.mounts[%d].host_path %q: %v: %w", i, mnt.HostPath, err, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// checkHandlerSupports refuses, before anything is made, what the pod's runtime handler
// cannot give cfg. A handler gone from the config (crid restarted without it) is refused
// too, as containerd does: its options (privileged_without_host_devices...) would be
// missing from the container. Recursive read-only mounts are the pod's handler's to
// support, and need mount_setattr (Linux 5.12): "ro" alone would leave the submounts
// writable.
func (m *Manager) checkHandlerSupports(pod *Pod, cfg *runtimeapi.ContainerConfig) error {
	h, ok := m.handler(pod.RuntimeHandler)
	if !ok {
		return fmt.Errorf("pod sandbox %s: its runtime handler %q is no longer configured (known: %q): %w",
			pod.ID, pod.RuntimeHandler, m.handlerNames(), errdefs.ErrFailedPrecondition)
	}
	rro := h.Features.RecursiveReadOnlyMounts && kernelHasMountSetattr()
	for i, mnt := range cfg.Mounts {
		if mnt.GetRecursiveReadOnly() && !rro {
			return fmt.Errorf("config.mounts[%d].recursive_read_only: runtime handler %q does not support recursive read-only mounts on this node (they need mount_setattr, Linux 5.12, and a runtime that declares them): %w",
				i, pod.RuntimeHandler, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}

// logPath joins the pod's log directory and the container's log path and refuses a path
// that leaves the directory. No directory or no path means no log.
func logPath(dir, rel string) (string, error) {
	if dir == "" || rel == "" {
		return "", nil
	}
	if filepath.IsAbs(rel) {
		return "", fmt.Errorf("config.log_path %q: must be relative to the pod's log_directory: %w", rel, errdefs.ErrInvalidArgument)
	}
	p := filepath.Join(dir, rel)
	if r, err := filepath.Rel(filepath.Clean(dir), p); err != nil || r == ".." || strings.HasPrefix(r, "../") || r == "." {
		return "", fmt.Errorf("config.log_path %q: leaves the pod's log_directory %q: %w", rel, dir, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// createContainer stores the intent, then makes the rootfs, volumes and the process; on
// failure releaseContainer undoes what exists (recover() does the same after a crash).
func (m *Manager) createContainer(ctx context.Context, pe *podEntry, pod *Pod, cfg *runtimeapi.ContainerConfig) (id string, err error) {
	img, err := m.deps.Images.Resolve(cfg.Image.Image)
	if err != nil {
		return "", fmt.Errorf("config.image %q: %w", cfg.Image.Image, err)
	}
	lp, err := logPath(pod.Config.GetLogDirectory(), cfg.LogPath)
	if err != nil {
		return "", err
	}
	// An unknown device is refused here, before anything is made.
	devices, err := m.deps.Devices.Resolve(cfg)
	if err != nil {
		return "", err
	}
	mon, err := m.monitor(pe)
	if err != nil {
		return "", err
	}
	id = newID()
	c := &Container{
		ID: id, PodID: pod.ID, Config: cfg, State: ContainerCreated, Phase: PhaseCreating,
		CreatedAt: time.Now(), Dir: filepath.Join(pod.Dir, "containers", id), LogPath: lp,
		Image: ContainerImage{Spec: cfg.Image.Image, ID: img.ID, Ref: img.ID},
	}
	if len(img.RepoDigests) > 0 {
		c.Image.Ref = img.RepoDigests[0]
	}
	if err := m.store.putContainer(c); err != nil {
		return "", fmt.Errorf("persist container intent: %w", err)
	}
	created := false
	defer func() {
		r := recover()
		if (err != nil && !m.crashPoint.Load()) || r != nil {
			var mm Monitor
			if created {
				mm = mon
			}
			if rerr := m.releaseContainer(context.WithoutCancel(ctx), c, mm); rerr != nil {
				m.log.Error("undoing a failed container creation; its record stays for the next start", "container", c.ID, "error", rerr)
			}
		}
		if r != nil {
			panic(r) // the RPC wrapper reports it; what existed is undone
		}
	}()
	rootfsPath := filepath.Join(c.Dir, "rootfs")
	if err := os.MkdirAll(rootfsPath, 0o700); err != nil {
		return "", err
	}
	rfs, err := m.deps.Images.PrepareRootfs(ctx, id, img.ID)
	if err != nil {
		return "", fmt.Errorf("prepare rootfs: %w", err)
	}
	volDirs, err := m.volumeDirs(c, cfg, img)
	if err != nil {
		return "", err
	}
	cfgForSpec, err := m.imageMounts(ctx, c, cfg)
	if err != nil {
		return "", err
	}
	if lp != "" {
		if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
			return "", fmt.Errorf("log dir: %w", err)
		}
	}
	ns, target, err := m.namespacePaths(pod, cfg)
	if err != nil {
		return "", err
	}
	etc, closeEtc := m.imageEtc(rfs)
	defer closeEtc()
	// A handler removed from the config since the pod started adds nothing.
	h, _ := m.handler(pod.RuntimeHandler)
	s, err := m.deps.Specs.ContainerSpec(spec.ContainerInput{
		ID: id, SandboxID: pod.ID, Config: cfgForSpec, Sandbox: pod.Config,
		Image:      spec.Image{Name: cfg.Image.Image, Config: img.Config.Config, Etc: etc},
		RootfsPath: rootfsPath, PodNamespaces: ns, TargetPIDNamespace: target,
		PodFiles: podFiles(pod), VolumeDirs: volDirs, Host: m.cfg.SpecHost,
		PrivilegedWithoutHostDevices: h.PrivilegedWithoutHostDevices,
	})
	if err != nil {
		return "", err
	}
	if len(devices) > 0 {
		if err := m.deps.Devices.Inject(s, devices); err != nil {
			return "", fmt.Errorf("CDI devices: %w", err)
		}
	}
	// After CDI: a hooks.d condition sees the spec as it will run.
	if err := m.deps.Hooks.Add(s, cfg); err != nil {
		return "", fmt.Errorf("OCI hooks: %w", err)
	}
	// Last: NRI plugins see, and may adjust, the spec as it would run.
	if m.deps.NRI != nil {
		if err := m.deps.NRI.CreateContainer(ctx, pod, c, s); err != nil {
			return "", fmt.Errorf("NRI: %w", err)
		}
	}
	addDefaultAnnotations(s, h)
	sig, err := m.deps.Specs.StopSignal(cfg, img.Config.Config)
	if err != nil {
		return "", err
	}
	c.Spec, c.StopSignal = s, int(sig)
	created = true // from here a half-made process may exist in the monitor
	c.Pid, err = mon.Create(ctx, CreateRequest{
		ID: id, Spec: s, Rootfs: []specs.Mount{overlayMount(rootfsPath, rfs)}, LogPath: lp,
		Stdin: cfg.Stdin, StdinOnce: cfg.StdinOnce, Terminal: cfg.Tty,
	})
	if err != nil {
		return "", fmt.Errorf("create container process: %w", err)
	}
	c.Phase = PhaseCreated
	if err := m.store.putContainer(c); err != nil {
		return "", err
	}
	e := &ctrEntry{exited: make(chan struct{})}
	e.snap.Store(c)
	m.ctrs.add(id, c.key(), e)
	// Its layer is still empty (one lstat): measured now, its first stats carry it.
	m.sampleFsUsage(id, m.now())
	m.publishContainer(EventCreated, c)
	m.nriContainerEvent(ctx, "PostCreateContainer", c, NRI.ContainerCreated)
	// An exit the monitor sent before the container was in the index was dropped by
	// applyExit; ask once so such a container is not shown CREATED for ever.
	if st, err := mon.State(ctx, id); err == nil && st.Status == ProcStopped {
		if err := m.markExited(e, st); err != nil {
			// The container exists; its exit is recorded by the next stop or restart.
			m.log.Error("recording an early exit", "container", id, "error", err)
		}
	}
	return id, nil
}

func overlayMount(target string, r *Rootfs) specs.Mount {
	return specs.Mount{
		Destination: target, Type: "overlay", Source: "overlay",
		Options: []string{
			"lowerdir=" + strings.Join(r.LowerDirs, ":"), "upperdir=" + r.UpperDir, "workdir=" + r.WorkDir,
		},
	}
}

// volumeDirs makes an empty host dir per image-config VOLUME (never copied from the image:
// CVE-2022-23648); the spec bind mounts each, resolved inside the rootfs by the executor.
func (m *Manager) volumeDirs(c *Container, cfg *runtimeapi.ContainerConfig, img *Image) (map[string]string, error) {
	vols, err := m.deps.Specs.ImageVolumes(cfg, img.Config.Config)
	if err != nil || len(vols) == 0 {
		return nil, err
	}
	dirs := map[string]string{}
	for i, v := range vols {
		d := filepath.Join(c.Dir, "volumes", fmt.Sprint(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		dirs[v] = d
	}
	return dirs, nil
}

// imageEtc gives the spec the image's /etc/passwd and /etc/group through its layers,
// each opened as an os.Root so a symlink cannot lead out of the layer.
func (m *Manager) imageEtc(r *Rootfs) (fs.FS, func()) {
	var layers []fs.FS
	var roots []*os.Root
	for _, dir := range r.LowerDirs {
		root, err := os.OpenRoot(dir)
		if err != nil {
			continue
		}
		roots = append(roots, root)
		layers = append(layers, root.FS())
	}
	return m.deps.Specs.LayerFS(layers...), func() {
		for _, r := range roots {
			r.Close()
		}
	}
}

func podFiles(p *Pod) spec.PodFiles {
	f := spec.PodFiles{
		Hosts:    filepath.Join(p.Dir, "hosts"),
		Hostname: filepath.Join(p.Dir, "hostname"),
	}
	if st, err := os.Stat(filepath.Join(p.Dir, "resolv.conf")); err == nil && st.Size() > 0 {
		f.ResolvConf = filepath.Join(p.Dir, "resolv.conf")
	}
	if p.ShmMounted {
		f.Shm = filepath.Join(p.Dir, "shm")
	} else if hostIPC(p.Config) {
		f.Shm = "/dev/shm"
	}
	return f
}

// namespacePaths are the pod's namespaces as the infra holds them, and the target
// container's PID namespace for PID mode TARGET.
func (m *Manager) namespacePaths(p *Pod, cfg *runtimeapi.ContainerConfig) (spec.NamespacePaths, string, error) {
	ns := spec.PodNamespacePaths(p.Config.GetLinux().GetSecurityContext().GetNamespaceOptions(), p.InfraPid, p.NetNS)
	copts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if copts.GetPid() != runtimeapi.NamespaceMode_TARGET {
		return ns, "", nil
	}
	t, err := m.Container(copts.GetTargetId())
	if err != nil {
		return ns, "", fmt.Errorf("config.linux.security_context.namespace_options.target_id %q: %w", copts.GetTargetId(), err)
	}
	if t.PodID != p.ID || t.State != ContainerRunning {
		return ns, "", fmt.Errorf("config.linux.security_context.namespace_options.target_id %q: must be a running container of the pod: %w",
			copts.GetTargetId(), errdefs.ErrFailedPrecondition)
	}
	return ns, fmt.Sprintf("/proc/%d/ns/pid", t.Pid), nil
}
