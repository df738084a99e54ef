package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crid-dev/crid/internal/bootid"
)

// state records everything up made on the host, written before each thing is made, so that
// down removes exactly that, after a success, a failure half-way or a crash of up itself.
type state struct {
	Nodes           int      `json:"nodes"`
	RuntimeEndpoint string   `json:"runtimeEndpoint,omitempty"`
	K8sBin          string   `json:"k8sBin"`
	Procs           []proc   `json:"procs"`
	Netns           []string `json:"netns"`
	Links           []string `json:"links"`       // host links (bridge, veths, node 1's pod bridge)
	SharedMount     string   `json:"sharedMount"` // the dir bind-mounted onto itself, shared
	CgroupRoots     []string `json:"cgroupRoots"`
	KubeProxyHost   bool     `json:"kubeProxyHost"` // kube-proxy ran in the host netns: its rules are there
	KubeletHost     bool     `json:"kubeletHost"`   // kubelet ran in the host netns: its canary chains are there
	Registry        string   `json:"registry"`
}

// proc is a process up started, identified by pid, start time and boot so that down
// never signals a process that reused the pid: the state dir outlives a reboot, and a
// pid with its start time (clock ticks since boot) can name a process of the next boot.
type proc struct {
	Name    string   `json:"name"`
	Node    int      `json:"node,omitempty"`
	Pid     int      `json:"pid"`
	Started string   `json:"started"`        // field 22 of /proc/<pid>/stat
	Boot    string   `json:"boot,omitempty"` // bootid.ID; "" in a state from before it was recorded
	Log     string   `json:"log"`
	Argv    []string `json:"argv"`
	// Socket is a crid's CRI socket, for down to remove its pods.
	Socket string `json:"socket,omitempty"`
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

func (s *state) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// start runs argv in a session of its own (so that a terminal's signals and up's exit do
// not reach it) with its output in log, records it and saves the state.
func (s *state) start(c *config, name string, node int, argv []string, env []string) (*proc, error) {
	log := filepath.Join(c.logs(), name+".log")
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "--- %s %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := proc{Name: name, Node: node, Pid: cmd.Process.Pid, Started: startTime(cmd.Process.Pid), Boot: bootid.ID(), Log: log, Argv: argv}
	// Reap it in the background: while up runs, an exited child must not linger as a
	// zombie that alive() would still see.
	go func() { _ = cmd.Wait() }()
	s.Procs = append(s.Procs, p)
	return &s.Procs[len(s.Procs)-1], s.save(c.statePath())
}

// restart stops the process named name and starts it again with the same command line,
// keeping its other recorded fields.
func (s *state) restart(c *config, name string) (*proc, error) {
	for i := range s.Procs {
		if s.Procs[i].Name != name {
			continue
		}
		old := s.Procs[i]
		old.stop(30 * time.Second)
		s.Procs = append(s.Procs[:i], s.Procs[i+1:]...)
		p, err := s.start(c, old.Name, old.Node, old.Argv, nil)
		if err != nil {
			return nil, err
		}
		p.Socket = old.Socket
		return p, s.save(c.statePath())
	}
	return nil, fmt.Errorf("no process %s in the cluster's state", name)
}

// startTime is field 22 of /proc/<pid>/stat (clock ticks after boot), "" when gone.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces and parentheses: fields count from
	// after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// alive reports whether p still runs (same boot, same start time, not a zombie).
func (p *proc) alive() bool {
	if !bootid.ThisBoot(p.Boot) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil || startTime(p.Pid) != p.Started {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs; only p's own pid, after checking
// that it is still the process up started.
func (p *proc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for p.alive() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if p.alive() {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		for i := 0; i < 50 && p.alive(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// tail returns the last n lines of a log, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
