package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// logRoot holds the CRI log directories of the pods made by `crid run`, one per pod (kubelet
// keeps its own under /var/log/pods).
const logRoot = "/var/log/crid-cli"

func newRunCommand(g *globals) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := o.parse(args)
			if err != nil {
				return err
			}
			if o.tty && !isTerminal(os.Stdin) {
				return errors.New("the input device is not a TTY")
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			return c.run(cmd.Context(), spec)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // what follows IMAGE is the container's command line
	f.BoolVarP(&o.detach, "detach", "d", false, "run in the background and print the container ID")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "keep STDIN open")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.BoolVar(&o.rm, "rm", false, "remove the container when it exits")
	f.StringVar(&o.name, "name", "", "name of the container (default: a generated one)")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a port: [IP:][HOST:]CTR[/udp]")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable KEY=VALUE (KEY alone: this shell's value)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "read environment variables from a file")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "bind mount HOSTDIR:CTRDIR[:ro]")
	f.StringArrayVar(&o.tmpfs, "tmpfs", nil, "mount a tmpfs at DIR[:size=64m,mode=1777,ro,noexec]")
	f.StringVar(&o.network, "network", "bridge", "network: bridge (the runtime's CNI network), host or none")
	f.StringVarP(&o.user, "user", "u", "", "user: UID[:GID] or NAME")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVar(&o.hostname, "hostname", "", "container host name")
	f.StringVarP(&o.memory, "memory", "m", "", "memory limit (e.g. 64m)")
	f.StringVar(&o.cpus, "cpus", "", "number of CPUs (e.g. 0.5)")
	f.BoolVar(&o.readOnly, "read-only", false, "mount the container's root filesystem read-only")
	f.BoolVar(&o.privileged, "privileged", false, "give extended privileges to this container")
	f.StringArrayVar(&o.capAdd, "cap-add", nil, "add a Linux capability")
	f.StringArrayVar(&o.capDrop, "cap-drop", nil, "drop a Linux capability")
	f.StringVar(&o.entrypoint, "entrypoint", "", "overwrite the image's ENTRYPOINT")
	f.StringVar(&o.pull, "pull", "missing", "pull the image before running: always, missing or never")
	return cmd
}

// run makes the pod and its container and starts it; whatever fails on the way takes
// back everything made before it.
func (c *client) run(ctx context.Context, s *runSpec) (err error) {
	img, imgCfg, err := c.ensureImage(ctx, s.image, s.o.pull, os.Stderr, isTerminal(os.Stderr))
	if err != nil {
		return err
	}
	list, err := c.listEntries(ctx, false)
	if err != nil {
		return err
	}
	name, err := chooseName(list, s.o.name)
	if err != nil {
		return err
	}
	var taken []portMapping
	for _, e := range list {
		taken = append(taken, e.rec.Ports...)
	}
	if err := claimPorts(s.ports, taken); err != nil {
		return err
	}

	rec := &runRecord{Image: s.image, Ports: s.ports, Network: s.o.network, LogDir: filepath.Join(logRoot, name)}
	rec.Command = displayCommand(s, imgCfg)
	var made rollback
	defer func() {
		if err != nil {
			if rerr := made.undo(c); rerr != nil {
				err = fmt.Errorf("%w (and rolling back: %v)", err, rerr)
			}
		}
	}()
	if err := os.MkdirAll(rec.LogDir, 0o755); err != nil {
		return err
	}
	made.logDir = rec.LogDir
	var tmpfsMounts []*runtimeapi.Mount
	for i, t := range s.tmpfs {
		m, dir, err := mountTmpfs(filepath.Join(tmpfsRoot, name), i, t)
		if err != nil {
			return err
		}
		made.tmpfs = append(made.tmpfs, dir)
		rec.TmpfsDirs = append(rec.TmpfsDirs, dir)
		tmpfsMounts = append(tmpfsMounts, m)
	}
	ctrCfg := s.containerConfig(name, img.GetId(), tmpfsMounts)
	ann, err := rec.encode(ctrCfg)
	if err != nil {
		return err
	}
	podAnnotations := map[string]string{annotationRun: ann}
	if s.o.network == "none" {
		podAnnotations[annotationNetwork] = "none"
	}
	podCfg := s.podConfig(name, rec.LogDir, podAnnotations)
	pod, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		return runError(err)
	}
	made.podID = pod.GetPodSandboxId()
	if s.o.network == "none" {
		if err := c.checkNoNetwork(ctx, made.podID); err != nil {
			return err
		}
	}
	ctr, err := c.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: made.podID, Config: ctrCfg, SandboxConfig: podCfg,
	})
	if err != nil {
		return runError(err)
	}
	if _, err := c.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr.GetContainerId()}); err != nil {
		return runError(err)
	}
	made = rollback{} // all made: nothing to take back from here on
	podID := pod.GetPodSandboxId()
	if s.o.detach {
		fmt.Println(podID)
		return nil
	}
	e := &entry{pod: &runtimeapi.PodSandbox{Id: podID, Metadata: podCfg.Metadata}, rec: rec,
		ctr: &runtimeapi.Container{Id: ctr.GetContainerId(), PodSandboxId: podID}}
	code, err := c.foreground(ctx, e, s.o)
	if s.o.rm {
		if rerr := c.remove(context.WithoutCancel(ctx), e); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

func runError(err error) error { return rpcError("run", err) }

// annotationNetwork "none" asks crid for a pod with loopback only (sandbox.AnnotationNetwork;
// CRI has no such mode, and this package speaks only CRI).
const annotationNetwork = "crid.dev/network"

// checkNoNetwork refuses a pod the runtime gave an address anyway: it does not know the
// annotation, and a container meant to be offline must not run on a network.
func (c *client) checkNoNetwork(ctx context.Context, podID string) error {
	st, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil {
		return rpcError("pod status", err)
	}
	if ip := st.GetStatus().GetNetwork().GetIp(); ip != "" {
		return fmt.Errorf("network none: the runtime gave the pod the address %s: it does not support crid's %s=none annotation", ip, annotationNetwork)
	}
	return nil
}

// chooseName checks a given name is free, or generates one.
func chooseName(list []*entry, name string) (string, error) {
	taken := func(n string) bool {
		for _, e := range list {
			if e.Name() == n {
				return true
			}
		}
		return false
	}
	if name == "" {
		return generateName(taken), nil
	}
	for _, e := range list {
		if e.Name() == name {
			return "", fmt.Errorf("conflict: the container name %q is already in use by container %q: remove (or rename) that container to reuse the name", "/"+name, e.ID())
		}
	}
	return name, nil
}

// displayCommand is what `crid ps` shows as COMMAND: the entrypoint and arguments the
// container really runs.
func displayCommand(s *runSpec, img *imageConfig) []string {
	entry := img.Entrypoint
	if s.o.entrypoint != "" {
		entry = []string{s.o.entrypoint}
	}
	args := s.command
	if len(args) == 0 && s.o.entrypoint == "" {
		args = img.Cmd
	}
	return append(append([]string{}, entry...), args...)
}

// rollback is what a run has made so far, to take back when a later step fails.
type rollback struct {
	podID  string
	tmpfs  []string
	logDir string
}

func (m rollback) undo(c *client) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var errs []error
	if m.podID != "" {
		if _, err := c.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: m.podID}); err != nil && !isNotFound(err) {
			errs = append(errs, rpcError("stop pod", err))
		} else if _, err := c.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: m.podID}); err != nil && !isNotFound(err) {
			errs = append(errs, rpcError("remove pod", err))
		}
	}
	if err := removeHostDirs(m.tmpfs); err != nil {
		errs = append(errs, err)
	}
	if m.logDir != "" {
		if err := os.RemoveAll(m.logDir); err != nil {
			errs = append(errs, err)
		}
		_ = os.Remove(filepath.Dir(m.logDir)) // logRoot, once its last pod is gone
	}
	return errors.Join(errs...)
}
