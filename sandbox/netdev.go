package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// netDevFiles keeps each ready pod's /proc/<pause pid>/net/dev open: the file shows the
// pod's network namespace, and reading it again from offset 0 regenerates it, at about a
// tenth of the cost of open+read+close (per pod, every sampler pass). An open file holds
// the namespace, so the pod's stop closes it (forget), as do its removal and a sampler
// pass that finds the pod no longer ready.
type netDevFiles struct {
	mu  sync.Mutex // held across a read: a concurrent forget must not close the fd under it
	fds map[string]netDevFD
	buf [16 << 10]byte
}

type netDevFD struct{ pid, fd int }

// read returns the pod's interfaces but the loopback, through its kept file.
func (n *netDevFiles) read(podID string, pid int) ([]NetStats, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := n.fds[podID]
	if ok && f.pid != pid {
		_ = unix.Close(f.fd)
		delete(n.fds, podID)
		ok = false
	}
	if !ok {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/net/dev", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("pod %s network counters: %w", podID, err)
		}
		if n.fds == nil {
			n.fds = map[string]netDevFD{}
		}
		f = netDevFD{pid: pid, fd: fd}
		n.fds[podID] = f
	}
	for {
		// A seq_file read fills the buffer or ends the file: one read is all of it.
		c, err := unix.Pread(f.fd, n.buf[:], 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			_ = unix.Close(f.fd)
			delete(n.fds, podID)
			return nil, fmt.Errorf("pod %s network counters: %w", podID, err)
		}
		return parseNetDev(n.buf[:c]), nil
	}
}

func (n *netDevFiles) forget(podID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f, ok := n.fds[podID]; ok {
		_ = unix.Close(f.fd)
		delete(n.fds, podID)
	}
}

// keep closes the files of pods not in live.
func (n *netDevFiles) keep(live map[string]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, f := range n.fds {
		if !live[id] {
			_ = unix.Close(f.fd)
			delete(n.fds, id)
		}
	}
}

func (n *netDevFiles) open() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.fds)
}

// parseNetDev parses /proc/net/dev, leaving out the loopback.
func parseNetDev(b []byte) []NetStats {
	var out []NetStats
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, rest, ok := strings.Cut(string(line), ":")
		if !ok {
			continue // the two header lines
		}
		name = strings.TrimSpace(name)
		fields := strings.Fields(rest)
		if name == "lo" || len(fields) < 12 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(fields[i], 10, 64); return v }
		// receive: bytes packets errs drop ...; transmit (from field 8): the same.
		out = append(out, NetStats{
			Name: name, RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3),
			TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11),
		})
	}
	return out
}
