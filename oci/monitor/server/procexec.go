package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ProcessExecutor runs a container as a plain host process, without namespaces,
// cgroups or a root filesystem: the monitor's tests use it to exercise everything
// the monitor itself does (reaping, stdio, logs, exec, attach, state) without root
// and without the executor library. Never use it for real pods.
//
// A container is a process group: Pids lists the group, exec'd processes join it.
type ProcessExecutor struct {
	mu    sync.Mutex
	inits map[*specs.Spec]int
}

// NewProcessExecutor returns an executor of plain processes.
func NewProcessExecutor() *ProcessExecutor {
	return &ProcessExecutor{inits: map[*specs.Spec]int{}}
}

// startGate holds the init before execve until Start writes to fd 3, as a real
// container's init waits.
const startGate = `read _ <&3; exec 3<&-; exec "$@"`

func (e *ProcessExecutor) Create(_ context.Context, o CreateOptions) (*Created, error) {
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer gateR.Close()
	args := append([]string{"/bin/sh", "-c", startGate, "sh"}, o.Spec.Process.Args...)
	pid, console, err := e.start(o.Spec.Process, args, o.Stdio, 0, gateR)
	if err != nil {
		gateW.Close()
		return nil, err
	}
	e.mu.Lock()
	e.inits[o.Spec] = pid
	e.mu.Unlock()
	return &Created{Pid: pid, Console: console, Start: func() error {
		defer gateW.Close()
		_, err := gateW.Write([]byte("\n"))
		return err
	}}, nil
}

func (e *ProcessExecutor) Exec(_ context.Context, o ExecOptions) (int, *os.File, error) {
	return e.start(o.Process, o.Process.Args, o.Stdio, o.ContainerPid, nil)
}

func (e *ProcessExecutor) start(p *specs.Process, args []string, stdio Stdio, pgid int, extra *os.File) (int, *os.File, error) {
	files := []*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr}
	var console, tty *os.File
	sys := &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	if p.Terminal {
		var err error
		if console, tty, err = openPTY(); err != nil {
			return 0, nil, err
		}
		defer tty.Close()
		files = []*os.File{tty, tty, tty}
		sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	for i, f := range files {
		if f == nil {
			null, err := os.Open(os.DevNull)
			if err != nil {
				return 0, nil, err
			}
			defer null.Close()
			files[i] = null
		}
	}
	if extra != nil {
		files = append(files, extra)
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	env := p.Env
	if env == nil {
		env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	proc, err := os.StartProcess(args[0], args, &os.ProcAttr{Dir: cwd, Env: env, Files: files, Sys: sys})
	if err != nil && pgid != 0 && !p.Terminal {
		// The group's leader is gone: run in a group of its own.
		sys.Pgid = 0
		proc, err = os.StartProcess(args[0], args, &os.ProcAttr{Dir: cwd, Env: env, Files: files, Sys: sys})
	}
	if err != nil {
		if console != nil {
			console.Close()
		}
		return 0, nil, err
	}
	pid := proc.Pid
	proc.Release() // the monitor's reaper waits for it, not os.Process
	return pid, console, nil
}

// openPTY opens a pty pair; the caller owns both ends.
func openPTY() (master, slave *os.File, err error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(m)
		return nil, nil, err
	}
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(m)
		return nil, nil, errno
	}
	return os.NewFile(uintptr(m), "ptmx"), os.NewFile(s, "pts"), nil
}

func (e *ProcessExecutor) CreatePodInfra(_ context.Context, spec *specs.Spec) (int, error) {
	p := &specs.Process{Args: []string{"/bin/sleep", "infinity"}}
	pid, _, err := e.start(p, p.Args, Stdio{}, 0, nil)
	if err == nil {
		e.mu.Lock()
		e.inits[spec] = pid
		e.mu.Unlock()
	}
	return pid, err
}

func (e *ProcessExecutor) Update(*specs.Spec, *specs.LinuxResources) error { return nil }

func (e *ProcessExecutor) OOMKilled(*specs.Spec) (bool, error) { return false, nil }

// Pids lists the processes of the container's process group. The monitor is a child
// subreaper, so they are among its descendants: walking those costs what the pod runs,
// not what the host runs. A scan of all /proc took 0.2-0.4 s a call under -race on a
// host of 1200 processes, and Shutdown lists container after container (65 took 15 s).
// Like that scan, the walk is a snapshot: the kernel may skip a child listed right
// after a sibling was reaped, as a scan misses a process forked behind it.
func (e *ProcessExecutor) Pids(spec *specs.Spec) ([]int, error) {
	e.mu.Lock()
	pgid, ok := e.inits[spec]
	e.mu.Unlock()
	if !ok {
		return nil, nil
	}
	var out []int
	seen := map[int]bool{}
	queue, err := children(os.Getpid())
	if err != nil {
		return nil, err
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		// f[0] state, f[2] pgrp; zombies are already dead.
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
		more, err := children(pid)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // gone meanwhile: no children
			return nil, err
		}
		queue = append(queue, more...)
	}
	return out, nil
}

// children lists pid's child processes: each thread's children file names those it forked.
func children(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + t.Name() + "/children")
		if err != nil {
			// A thread that ended meanwhile takes its task dir along; a live one
			// without the file is a kernel without CONFIG_PROC_CHILDREN.
			if _, serr := os.Stat(dir + t.Name()); serr == nil && errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("listing the child processes of %d: %w", pid, err)
			}
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func (e *ProcessExecutor) Destroy(spec *specs.Spec) error {
	e.mu.Lock()
	delete(e.inits, spec)
	e.mu.Unlock()
	return nil
}

var _ Executor = (*ProcessExecutor)(nil)

// Supervision is empty: a process group has no cgroup; the C body only reaps and logs.
func (e *ProcessExecutor) Supervision(*specs.Spec) (Supervision, error) { return Supervision{}, nil }

// Adopt takes a container a previous body of the monitor created: its init leads its
// process group.
func (e *ProcessExecutor) Adopt(spec *specs.Spec, pid int) error {
	e.mu.Lock()
	e.inits[spec] = pid
	e.mu.Unlock()
	return nil
}

var (
	_ Supervisable = (*ProcessExecutor)(nil)
	_ Adopter      = (*ProcessExecutor)(nil)
)
