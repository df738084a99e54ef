package cli

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runOptions are `crid run`'s flags, docker's names and meanings.
type runOptions struct {
	detach, interactive, tty, rm bool
	name                         string
	publish, env, envFiles       []string
	volumes, tmpfs               []string
	network                      string
	user, workdir, hostname      string
	memory, cpus                 string
	readOnly, privileged         bool
	capAdd, capDrop              []string
	entrypoint                   string
	pull                         string // missing, always, never
}

// runSpec is what the flags mean, checked before anything is made.
type runSpec struct {
	image   string
	command []string // the CMD... arguments
	ports   []portMapping
	mounts  []*runtimeapi.Mount
	tmpfs   []tmpfsSpec
	env     []*runtimeapi.KeyValue
	res     *runtimeapi.LinuxContainerResources
	sec     *runtimeapi.LinuxContainerSecurityContext
	o       *runOptions
}

// parse validates every flag: a bad one fails the command before any pod exists.
func (o *runOptions) parse(args []string) (*runSpec, error) {
	s := &runSpec{image: args[0], command: args[1:], o: o}
	if o.name != "" && !validName.MatchString(o.name) {
		return nil, fmt.Errorf("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", o.name)
	}
	switch o.network {
	case "bridge", "host", "none":
	default:
		return nil, fmt.Errorf("network %s not found: use bridge, host or none", o.network)
	}
	switch o.pull {
	case "missing", "always", "never":
	default:
		return nil, fmt.Errorf("invalid pull option: %q: must be one of \"always\", \"missing\" or \"never\"", o.pull)
	}
	if o.detach && o.rm {
		return nil, fmt.Errorf("--rm with -d needs someone to wait for the exit, and crid's CLI keeps no daemon: run without -d, or remove it with crid rm")
	}
	for _, p := range o.publish {
		m, err := parsePublish(p)
		if err != nil {
			return nil, err
		}
		if o.network == "bridge" {
			s.ports = append(s.ports, m)
		}
	}
	for _, v := range o.volumes {
		m, err := parseVolume(v)
		if err != nil {
			return nil, err
		}
		s.mounts = append(s.mounts, m)
	}
	for _, t := range o.tmpfs {
		ts, err := parseTmpfs(t)
		if err != nil {
			return nil, err
		}
		s.tmpfs = append(s.tmpfs, ts)
	}
	env, err := parseEnv(o.envFiles, o.env)
	if err != nil {
		return nil, err
	}
	s.env = env
	if s.res, err = o.resources(); err != nil {
		return nil, err
	}
	if s.sec, err = o.security(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseEnv reads --env-file files then -e values; a bare KEY takes this process's value
// and is left out when unset, as docker does.
func parseEnv(files, values []string) ([]*runtimeapi.KeyValue, error) {
	var all []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("open %s: no such file or directory", f)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			all = append(all, line)
		}
	}
	all = append(all, values...)
	var out []*runtimeapi.KeyValue
	for _, kv := range all {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid environment variable: %s", kv)
		}
		if !ok {
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(v)})
	}
	return out, nil
}

// cpuPeriod is the CFS period docker uses for --cpus.
const cpuPeriod = 100000

func (o *runOptions) resources() (*runtimeapi.LinuxContainerResources, error) {
	r := &runtimeapi.LinuxContainerResources{}
	if o.memory != "" {
		n, err := units.RAMInBytes(o.memory)
		if err != nil || n < 6<<20 {
			return nil, fmt.Errorf("invalid --memory %q: a size of at least 6MB (e.g. 64m)", o.memory)
		}
		r.MemoryLimitInBytes = n
	}
	if o.cpus != "" {
		f, err := strconv.ParseFloat(o.cpus, 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("invalid --cpus %q: a positive number of CPUs (e.g. 0.5)", o.cpus)
		}
		r.CpuPeriod, r.CpuQuota = cpuPeriod, int64(f*cpuPeriod)
		if r.CpuQuota < 1000 {
			return nil, fmt.Errorf("invalid --cpus %q: the minimum is 0.01", o.cpus)
		}
	}
	return r, nil
}

func (o *runOptions) security() (*runtimeapi.LinuxContainerSecurityContext, error) {
	sec := &runtimeapi.LinuxContainerSecurityContext{
		Privileged:       o.privileged,
		ReadonlyRootfs:   o.readOnly,
		NamespaceOptions: o.namespaces(),
	}
	if len(o.capAdd)+len(o.capDrop) > 0 {
		sec.Capabilities = &runtimeapi.Capability{AddCapabilities: capNames(o.capAdd), DropCapabilities: capNames(o.capDrop)}
	}
	if o.user != "" {
		u, g, hasGroup := strings.Cut(o.user, ":")
		if uid, err := strconv.ParseInt(u, 10, 64); err == nil {
			sec.RunAsUser = &runtimeapi.Int64Value{Value: uid}
		} else {
			sec.RunAsUsername = u
		}
		if hasGroup {
			gid, err := strconv.ParseInt(g, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid --user %q: CRI takes a numeric group", o.user)
			}
			sec.RunAsGroup = &runtimeapi.Int64Value{Value: gid}
		}
	}
	return sec, nil
}

// capNames turns docker's spellings (net_admin, CAP_NET_ADMIN, ALL) into CRI's
// (NET_ADMIN, ALL).
func capNames(in []string) []string {
	out := make([]string, 0, len(in))
	for _, c := range in {
		out = append(out, strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	}
	return out
}

func (o *runOptions) namespaces() *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if o.network == "host" {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

// podConfig is the pod of one `crid run`: its metadata UID derives from the name, so the
// runtime itself refuses a second pod of the same name racing this one.
func (s *runSpec) podConfig(name, logDir string, annotations map[string]string) *runtimeapi.PodSandboxConfig {
	hostname := s.o.hostname
	if hostname == "" && s.o.network != "host" {
		hostname = randomHex(6) // docker's short-ID-looking default
	}
	ports := make([]*runtimeapi.PortMapping, 0, len(s.ports))
	for _, p := range s.ports {
		ports = append(ports, p.toCRI())
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: podNamespace, Uid: "crid-cli-" + name},
		Hostname:     hostname,
		LogDirectory: logDir,
		PortMappings: ports,
		Labels:       map[string]string{LabelManaged: "true"},
		Annotations:  annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: s.o.namespaces(),
				Privileged:       s.o.privileged,
			},
		},
	}
}

// containerConfig is the pod's container; image is the resolved image ID.
func (s *runSpec) containerConfig(name, imageID string, mounts []*runtimeapi.Mount) *runtimeapi.ContainerConfig {
	const attempt = 0
	c := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: name},
		Image:      &runtimeapi.ImageSpec{Image: imageID, UserSpecifiedImage: s.image},
		Args:       s.command,
		WorkingDir: s.o.workdir,
		Envs:       s.env,
		Mounts:     append(append([]*runtimeapi.Mount{}, s.mounts...), mounts...),
		Labels:     map[string]string{LabelManaged: "true"},
		LogPath:    fmt.Sprintf("%s/%d.log", name, attempt),
		Stdin:      s.o.interactive,
		StdinOnce:  s.o.interactive,
		Tty:        s.o.tty,
		Linux:      &runtimeapi.LinuxContainerConfig{Resources: s.res, SecurityContext: s.sec},
	}
	if s.o.entrypoint != "" {
		c.Command = []string{s.o.entrypoint}
	}
	return c
}
