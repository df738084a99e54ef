package oci

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsKinds maps runtime-spec namespace types to clone flags and /proc/<pid>/ns names.
var nsKinds = map[specs.LinuxNamespaceType]struct {
	flag int
	name string
}{
	specs.UserNamespace:    {unix.CLONE_NEWUSER, "user"},
	specs.MountNamespace:   {unix.CLONE_NEWNS, "mnt"},
	specs.PIDNamespace:     {unix.CLONE_NEWPID, "pid"},
	specs.NetworkNamespace: {unix.CLONE_NEWNET, "net"},
	specs.IPCNamespace:     {unix.CLONE_NEWIPC, "ipc"},
	specs.UTSNamespace:     {unix.CLONE_NEWUTS, "uts"},
	specs.CgroupNamespace:  {unix.CLONE_NEWCGROUP, "cgroup"},
}

type nsJoin struct {
	flag int
	name string
	path string
}

// nsPlan is what a spec asks for: namespaces to join (by path) and new ones.
type nsPlan struct {
	join    []nsJoin
	newMask int
}

func (p nsPlan) has(flag int) bool { return p.newMask&flag != 0 }

func (p nsPlan) joins(flag int) bool {
	for _, j := range p.join {
		if j.flag == flag {
			return true
		}
	}
	return false
}

func planNamespaces(spec *specs.Spec) (nsPlan, error) {
	var p nsPlan
	if spec.Linux == nil {
		return p, nil
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range spec.Linux.Namespaces {
		k, ok := nsKinds[ns.Type]
		if !ok {
			return p, invalidSpec(fmt.Errorf("namespace type %q not supported", ns.Type))
		}
		if seen[ns.Type] {
			return p, invalidSpec(fmt.Errorf("namespace %q given twice", ns.Type))
		}
		seen[ns.Type] = true
		if ns.Path == "" {
			p.newMask |= k.flag
		} else {
			p.join = append(p.join, nsJoin{k.flag, k.name, ns.Path})
		}
	}
	return p, nil
}

// joinEnv renders the joins for the nsenter constructor ("net:/path,ipc:/path").
func (p nsPlan) joinEnv() string {
	parts := make([]string, 0, len(p.join))
	for _, j := range p.join {
		parts = append(parts, j.name+":"+j.path)
	}
	return strings.Join(parts, ",")
}

// onJoinedThread runs start on a fresh OS thread that first setns()es into the
// joins. Net, IPC, UTS, cgroup and PID (for children) namespaces can be joined
// per thread even in a multithreaded process, and a clone made from that
// thread inherits them. The thread is never unlocked: when the goroutine ends,
// the Go runtime kills the tainted thread instead of reusing it.
func onJoinedThread(joins []nsJoin, start func() (*os.Process, error)) (*os.Process, error) {
	if len(joins) == 0 {
		return start()
	}
	type result struct {
		p   *os.Process
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		for _, j := range joins {
			if j.flag == unix.CLONE_NEWUSER || j.flag == unix.CLONE_NEWNS {
				ch <- result{err: fmt.Errorf("namespace %s cannot be joined from a thread", j.name)}
				return
			}
			fd, err := unix.Open(j.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{err: fmt.Errorf("open %s namespace %s: %w", j.name, j.path, err)}
				return
			}
			err = unix.Setns(fd, j.flag)
			unix.Close(fd)
			if err != nil {
				ch <- result{err: fmt.Errorf("join %s namespace %s: %w", j.name, j.path, err)}
				return
			}
		}
		p, err := start()
		ch <- result{p, err}
	}()
	r := <-ch
	return r.p, r.err
}

// idMaps converts spec mappings to the syscall package's.
func idMaps(m []specs.LinuxIDMapping) []syscallIDMap {
	out := make([]syscallIDMap, 0, len(m))
	for _, e := range m {
		out = append(out, syscallIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	return out
}
